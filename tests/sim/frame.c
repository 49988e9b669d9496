/*
 * frame: ADU framing and the faults applied to it (see frame.h).
 */
#include <string.h>

#include "frame.h"
#include "pdu.h"

size_t frame_tcp(uint8_t *adu, unsigned tid, unsigned unit, const uint8_t *pdu, size_t n)
{
	pdu_put16(adu, tid);
	pdu_put16(adu + 2, 0);
	pdu_put16(adu + 4, (unsigned)n + 1);
	adu[6] = (uint8_t)unit;
	memmove(adu + 7, pdu, n);
	return n + 7;
}

uint16_t frame_crc16(const uint8_t *b, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

bool frame_crc_ok(const uint8_t *b, size_t n)
{
	uint16_t crc;

	if (n < 4)
		return false;
	crc = frame_crc16(b, n - 2);
	return b[n - 2] == (crc & 0xff) && b[n - 1] == (crc >> 8);
}

/* Puts the CRC of B[0..N-2) into its last two bytes. */
static void frame_put_crc(uint8_t *b, size_t n)
{
	uint16_t crc = frame_crc16(b, n - 2);

	b[n - 2] = (uint8_t)(crc & 0xff);
	b[n - 1] = (uint8_t)(crc >> 8);
}

size_t frame_rtu(uint8_t *adu, unsigned unit, const uint8_t *pdu, size_t n)
{
	memmove(adu + 1, pdu, n);
	adu[0] = (uint8_t)unit;
	frame_put_crc(adu, n + 3);
	return n + 3;
}

const char *frame_fault_name(enum fault_kind k)
{
	static const char *const names[] = { "none", "garbage", "truncate", "bad_crc",
					     "wrong_unit", "wrong_tid", "late", "silent" };

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

unsigned frame_other_unit(unsigned unit)
{
	return unit % 247 + 1;   /* the next unit id of 1..247: 1 -> 2, 247 -> 1 */
}

/* N random bytes that can never pass for an answer: on TCP the protocol id
 * is not 0, on RTU the CRC does not check. */
static void frame_garbage(bool rtu, uint8_t *adu, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = model_rand(rng);

		for (size_t j = i; j < n && j < i + 8; j++, r >>= 8)
			adu[j] = (uint8_t)r;
	}
	if (!rtu && n >= 4 && adu[2] == 0 && adu[3] == 0)
		adu[2] = 0xff;
	if (rtu && frame_crc_ok(adu, n))
		adu[n - 1] ^= 0xff;
}

size_t frame_fault(const struct sim_fault *f, enum sim_link link, uint8_t *adu, size_t n,
		   uint64_t *rng, int *delay_ms)
{
	enum fault_kind k = f ? f->kind : FAULT_NONE;
	bool rtu = link != LINK_TCP;   /* RTU framing: on a tty or over TCP */

	*delay_ms = 0;
	/* A field the link does not have: the answer arrives garbled. */
	if ((k == FAULT_BAD_CRC && !rtu) || (k == FAULT_WRONG_TID && rtu))
		k = FAULT_GARBAGE;
	switch (k) {
	case FAULT_NONE:
		return n;
	case FAULT_GARBAGE:
		frame_garbage(rtu, adu, n, rng);
		return n;
	case FAULT_TRUNCATE:
		return n / 2;
	case FAULT_BAD_CRC:
		adu[n - 2] ^= 0xff;
		adu[n - 1] ^= 0xff;
		return n;
	case FAULT_WRONG_UNIT:
		if (!rtu) {
			adu[6] = (uint8_t)frame_other_unit(adu[6]);
		} else {
			adu[0] = (uint8_t)frame_other_unit(adu[0]);
			frame_put_crc(adu, n);
		}
		return n;
	case FAULT_WRONG_TID:
		pdu_put16(adu, (pdu_get16(adu) + 1u) & 0xffff);
		return n;
	case FAULT_LATE:
		*delay_ms = f->delay_ms;
		return n;
	case FAULT_SILENT:
		return 0;
	}
	return n;
}
