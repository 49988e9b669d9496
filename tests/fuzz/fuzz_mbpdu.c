/*
 * fuzz_mbpdu: libFuzzer target of the Modbus answer checks (drivers/mbpdu.c),
 * the parser every byte from a device goes through. The input's first bytes
 * choose a request (table, start, count, read or write); the rest is the
 * answer, checked as a PDU and as a Modbus TCP frame. Whatever the bytes, the
 * checks must not read or write out of bounds, and an accepted read answer
 * must carry exactly the registers asked for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/mbpdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t req[MBPDU_MAX];
	uint16_t vals[2000], out[2000];
	int exc, len;

	if (size < 6)
		return 0;
	enum yw_table t = (enum yw_table)(data[0] % POINT_NTABLES);
	uint16_t start = (uint16_t)(data[1] << 8 | data[2]);
	uint16_t count = (uint16_t)(data[3] << 8 | data[4]) % 2001;
	int op = data[5] % 3;       /* read, single write, multiple write */
	data += 6;
	size -= 6;
	memset(vals, 0, sizeof vals);
	if (op == 0)
		len = mbpdu_read(req, t, start, count);
	else
		len = mbpdu_write(req, t, start, op == 1 ? 1 : count, vals, op == 1);
	if (len < 0)
		return 0;
	if (mbpdu_check(req, (size_t)len, data, size, out, &exc) == MBPDU_OK && op == 0) {
		bool bits = t == TABLE_COIL || t == TABLE_DISCRETE;
		size_t want = 2 + (bits ? (count + 7u) / 8u : 2u * count);
		if (size != want)
			abort();
	}
	if (mbtcp_check_header(data, size, 1, 1) == MBPDU_OK && size < MBTCP_HEADER + 1)
		abort();
	return 0;
}
