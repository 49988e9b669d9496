/*
 * fuzz_rtuframe: libFuzzer target of the RTU framing of rtu-tcp
 * (drivers/rtuframe.c), which cuts the answer out of whatever bytes a
 * serial device server passes on, and of mbpdu_check() behind it. The
 * input's first 8 bytes choose a request (table, start, count, read /
 * single write / multiple write, as fuzz_mbpdu), the unit, and the size of
 * the pieces the rest arrives in (1..16 bytes); the rest is the byte
 * stream. It is scanned as the driver does (pieces appended to a 512-byte
 * buffer, garbage dropped, a frame taken and the scan going on after it).
 *
 * Checked, whatever the bytes: every result stays inside the bytes given;
 * a frame is from the unit, has a good CRC and the length of an exception
 * (5) or of the answer (rtu_answer_len), and no complete frame of the
 * answer starts before it (nor before the end of bytes dropped as garbage);
 * "need more" is asked only at a frame's start and never beyond the
 * longest ADU; the buffer never overflows; an accepted read answer carries
 * exactly the quantity asked for.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/mbpdu.h"
#include "../../drivers/rtuframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The oracle, written out on its own: a complete frame of the answer to
 * REQ from UNIT at B[P..) (WANT: the normal answer's length, 0: none). */
static bool frame_at(const uint8_t *b, size_t len, size_t p, uint8_t unit, const uint8_t *req,
		     size_t want)
{
	size_t n;
	uint16_t crc;

	if (p + 2 > len || b[p] != unit)
		return false;
	if (b[p + 1] == (req[0] | 0x80))
		n = RTU_EXC_LEN;
	else if (b[p + 1] == req[0] && want > 0)
		n = want;
	else
		return false;
	if (p + n > len)
		return false;
	if (n == want && req[0] <= 4 && b[p + 2] != want - 5)
		return false;
	crc = rtu_crc16(b + p, n - 2);
	return b[p + n - 2] == (crc & 0xff) && b[p + n - 1] == (crc >> 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t req[MBPDU_MAX], buf[2 * RTU_ADU_MAX];
	uint16_t vals[2000], out[2000];
	size_t have = 0, want, chunk;
	int exc, len;
	uint8_t unit;

	if (size < 8)
		return 0;
	enum yw_table t = (enum yw_table)(data[0] % POINT_NTABLES);
	uint16_t start = (uint16_t)(data[1] << 8 | data[2]);
	uint16_t count = (uint16_t)(data[3] << 8 | data[4]) % 2001;
	int op = data[5] % 3;       /* read, single write, multiple write */
	unit = data[6];
	chunk = 1 + data[7] % 16;
	data += 8;
	size -= 8;
	memset(vals, 0, sizeof vals);
	if (op == 0)
		len = mbpdu_read(req, t, start, count);
	else
		len = mbpdu_write(req, t, start, op == 1 ? 1 : count, vals, op == 1);
	if (len < 0)
		return 0;
	want = rtu_answer_len(req, (size_t)len);
	if (want == 0 || want > RTU_ADU_MAX)
		abort();   /* every request mbpdu builds has a known answer length */

	for (;;) {
		struct rtu_scan r = rtu_scan(buf, have, unit, req, (size_t)len);

		switch (r.kind) {
		case RTU_FRAME:
			if (r.off + r.n > have || (r.n != RTU_EXC_LEN && r.n != want) ||
			    !frame_at(buf, have, r.off, unit, req, want))
				abort();
			for (size_t p = 0; p < r.off; p++)
				if (frame_at(buf, have, p, unit, req, want))
					abort();
			if (mbpdu_check(req, (size_t)len, buf + r.off + 1, r.n - 3, out, &exc) ==
				    MBPDU_OK &&
			    op == 0 && r.n != want)
				abort();
			have -= r.off + r.n;
			memmove(buf, buf + r.off + r.n, have);
			continue;
		case RTU_SKIP:
			if (r.n == 0 || r.n > have)
				abort();
			for (size_t p = 0; p < r.n; p++)
				if (frame_at(buf, have, p, unit, req, want))
					abort();
			have -= r.n;
			memmove(buf, buf + r.n, have);
			continue;
		case RTU_NEED:
			if (r.n == 0 || have + r.n > RTU_ADU_MAX || (have > 0 && buf[0] != unit))
				abort();
			break;
		}
		if (size == 0)
			break;
		/* the scan keeps at most one incomplete frame: room for a piece */
		size_t n = size < chunk ? size : chunk;
		if (have + n > sizeof buf)
			abort();
		memcpy(buf + have, data, n);
		have += n;
		data += n;
		size -= n;
	}
	return 0;
}
