#include "mbpdu.h"

#include <string.h>

#define FC_READ_COILS 1
#define FC_READ_DISCRETE 2
#define FC_READ_HOLDING 3
#define FC_READ_INPUT 4
#define FC_WRITE_COIL 5
#define FC_WRITE_REGISTER 6
#define FC_WRITE_COILS 15
#define FC_WRITE_REGISTERS 16

#define MAX_READ_BITS 2000
#define MAX_READ_REGS 125
#define MAX_WRITE_BITS 1968
#define MAX_WRITE_REGS 123

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)(v & 0xff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

int mbpdu_read(uint8_t *pdu, enum yw_table t, uint16_t start, uint16_t count)
{
	static const uint8_t fc[POINT_NTABLES] = {
		[TABLE_COIL] = FC_READ_COILS, [TABLE_DISCRETE] = FC_READ_DISCRETE,
		[TABLE_INPUT] = FC_READ_INPUT, [TABLE_HOLDING] = FC_READ_HOLDING,
	};
	bool bits = t == TABLE_COIL || t == TABLE_DISCRETE;

	if ((unsigned)t >= POINT_NTABLES || count == 0 ||
	    count > (bits ? MAX_READ_BITS : MAX_READ_REGS))
		return -1;
	pdu[0] = fc[t];
	put16(pdu + 1, start);
	put16(pdu + 3, count);
	return 5;
}

int mbpdu_write(uint8_t *pdu, enum yw_table t, uint16_t start, uint16_t count,
		const uint16_t *vals, bool single)
{
	if (t != TABLE_COIL && t != TABLE_HOLDING)
		return -1;
	if (single) {
		if (count != 1)
			return -1;
		pdu[0] = t == TABLE_COIL ? FC_WRITE_COIL : FC_WRITE_REGISTER;
		put16(pdu + 1, start);
		put16(pdu + 3, t == TABLE_COIL ? (vals[0] ? 0xff00 : 0x0000) : vals[0]);
		return 5;
	}
	if (count == 0 || count > (t == TABLE_COIL ? MAX_WRITE_BITS : MAX_WRITE_REGS))
		return -1;
	put16(pdu + 1, start);
	put16(pdu + 3, count);
	if (t == TABLE_COIL) {
		size_t nbytes = (count + 7u) / 8u;
		pdu[0] = FC_WRITE_COILS;
		pdu[5] = (uint8_t)nbytes;
		memset(pdu + 6, 0, nbytes);
		for (uint16_t i = 0; i < count; i++)
			if (vals[i])
				pdu[6 + i / 8] |= (uint8_t)(1u << (i % 8));
		return (int)(6 + nbytes);
	}
	pdu[0] = FC_WRITE_REGISTERS;
	pdu[5] = (uint8_t)(count * 2);
	for (uint16_t i = 0; i < count; i++)
		put16(pdu + 6 + 2 * i, vals[i]);
	return 6 + 2 * count;
}

/* A read answer: byte count of exactly the quantity asked, then the data. */
static enum mbpdu_result check_read(const uint8_t *req, const uint8_t *rsp, size_t rsp_len,
				    uint16_t *out)
{
	uint16_t count = get16(req + 3);
	bool bits = req[0] == FC_READ_COILS || req[0] == FC_READ_DISCRETE;
	size_t nbytes = bits ? (count + 7u) / 8u : 2u * count;

	if (rsp_len != 2 + nbytes || rsp[1] != nbytes)
		return MBPDU_MALFORMED;
	if (!out)
		return MBPDU_OK;
	for (uint16_t i = 0; i < count; i++)
		out[i] = bits ? (uint16_t)((rsp[2 + i / 8] >> (i % 8)) & 1u) : get16(rsp + 2 + 2 * i);
	return MBPDU_OK;
}

/* A write answer echoes address and value (FC 5/6) or address and quantity
 * (FC 15/16). */
static enum mbpdu_result check_write(const uint8_t *req, const uint8_t *rsp, size_t rsp_len)
{
	if (rsp_len != 5 || memcmp(req + 1, rsp + 1, 4) != 0)
		return MBPDU_MALFORMED;
	return MBPDU_OK;
}

enum mbpdu_result mbpdu_check(const uint8_t *req, size_t req_len, const uint8_t *rsp,
			      size_t rsp_len, uint16_t *out, int *exc)
{
	if (exc)
		*exc = 0;
	if (req_len < 5 || rsp_len < 1)
		return MBPDU_MALFORMED;
	if (rsp[0] == (req[0] | 0x80)) {
		if (rsp_len != 2)
			return MBPDU_MALFORMED;
		if (exc)
			*exc = rsp[1];
		return rsp[1] == 0 ? MBPDU_MALFORMED : MBPDU_EXCEPTION;
	}
	if (rsp[0] != req[0])
		return MBPDU_MISMATCH;
	switch (req[0]) {
	case FC_READ_COILS:
	case FC_READ_DISCRETE:
	case FC_READ_HOLDING:
	case FC_READ_INPUT:
		return check_read(req, rsp, rsp_len, out);
	case FC_WRITE_COIL:
	case FC_WRITE_REGISTER:
	case FC_WRITE_COILS:
	case FC_WRITE_REGISTERS:
		return check_write(req, rsp, rsp_len);
	default:
		return MBPDU_MALFORMED;
	}
}

size_t mbtcp_wrap(uint8_t *adu, uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t len)
{
	if (len > MBPDU_MAX)
		len = MBPDU_MAX;
	put16(adu, tid);
	put16(adu + 2, 0);
	put16(adu + 4, (uint16_t)(len + 1));
	adu[6] = unit;
	memcpy(adu + MBTCP_HEADER, pdu, len);
	return MBTCP_HEADER + len;
}

enum mbpdu_result mbtcp_check_header(const uint8_t *rsp, size_t len, uint16_t tid, uint8_t unit)
{
	if (len < MBTCP_HEADER + 1 || get16(rsp + 2) != 0 || get16(rsp + 4) != len - 6)
		return MBPDU_MALFORMED;
	if (get16(rsp) != tid || rsp[6] != unit)
		return MBPDU_MISMATCH;
	return MBPDU_OK;
}

const char *mbpdu_result_name(enum mbpdu_result r)
{
	switch (r) {
	case MBPDU_OK: return "ok";
	case MBPDU_EXCEPTION: return "exception";
	case MBPDU_MISMATCH: return "answer to another request (unit, transaction or function)";
	case MBPDU_MALFORMED: return "malformed answer (length, byte count or echo)";
	}
	return "malformed answer";
}
