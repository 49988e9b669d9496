#include "rtuframe.h"

#include <stdbool.h>
#include <string.h>

uint16_t rtu_crc16(const uint8_t *b, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

/* The last two bytes of B[0..N) are the CRC of the others, low byte first. */
static bool rtu_crc_ok(const uint8_t *b, size_t n)
{
	uint16_t crc = rtu_crc16(b, n - 2);

	return b[n - 2] == (crc & 0xff) && b[n - 1] == (crc >> 8);
}

size_t rtu_wrap(uint8_t *adu, uint8_t unit, const uint8_t *pdu, size_t len)
{
	uint16_t crc;

	if (len == 0 || len > RTU_ADU_MAX - 3)
		return 0;
	adu[0] = unit;
	memcpy(adu + 1, pdu, len);
	crc = rtu_crc16(adu, len + 1);
	adu[len + 1] = (uint8_t)(crc & 0xff);
	adu[len + 2] = (uint8_t)(crc >> 8);
	return len + 3;
}

size_t rtu_answer_len(const uint8_t *req, size_t len)
{
	size_t qty, n;

	if (len < 5)
		return 0;
	qty = (size_t)req[3] << 8 | req[4];
	switch (req[0]) {
	case 1: case 2:
		n = 3 + (qty + 7) / 8 + 2;
		break;
	case 3: case 4:
		n = 3 + 2 * qty + 2;
		break;
	case 5: case 6: case 15: case 16:
		return 8;
	default:
		return 0;
	}
	return qty == 0 || n > RTU_ADU_MAX ? 0 : n;
}

/* What B[0..HAVE) (HAVE >= 1) is at its start, for the answer from UNIT
 * with function FC whose normal length is WANT (0: none expected):
 *   -1  no frame of the answer starts there;
 *    0  one may: *N more bytes at least are needed to tell;
 *    1  a complete frame with a good CRC, *N bytes long. */
static int rtu_at(const uint8_t *b, size_t have, uint8_t unit, uint8_t fc, size_t want,
		  size_t *n)
{
	size_t flen;

	if (b[0] != unit)
		return -1;
	if (have < 2) {
		*n = RTU_EXC_LEN - have;     /* an exception is the shortest answer */
		return 0;
	}
	if (b[1] == (fc | 0x80)) {
		flen = RTU_EXC_LEN;
	} else if (b[1] == fc && want > 0) {
		flen = want;
		/* a read's answer carries its byte count */
		if (fc >= 1 && fc <= 4 && have >= 3 && b[2] != want - 5)
			return -1;
	} else {
		return -1;
	}
	if (have < flen) {
		*n = flen - have;
		return 0;
	}
	if (!rtu_crc_ok(b, flen))
		return -1;
	*n = flen;
	return 1;
}

struct rtu_scan rtu_scan(const uint8_t *b, size_t len, uint8_t unit, const uint8_t *req,
			 size_t req_len)
{
	struct rtu_scan r = { RTU_NEED, 0, RTU_EXC_LEN };
	size_t want = rtu_answer_len(req, req_len), n = 0;
	uint8_t fc = req_len > 0 ? req[0] : 0;

	if (len == 0)
		return r;
	for (size_t p = 0; p < len; p++) {
		int at = rtu_at(b + p, len - p, unit, fc, want, &n);

		if (at < 0)
			continue;
		if (at > 0) {
			r.kind = RTU_FRAME;
			r.off = p;
		} else {
			r.kind = p == 0 ? RTU_NEED : RTU_SKIP;
		}
		r.n = at == 0 && p > 0 ? p : n;
		return r;
	}
	r.kind = RTU_SKIP;
	r.n = len;
	return r;
}
