/*
 * test_rtuframe: the RTU framing of rtu-tcp (drivers/rtuframe.c) as
 * functions of bytes: CRC-16/Modbus against published vectors, the ADU
 * built around mbpdu's requests, the expected answer length per function
 * (exception included), and rtu_scan() over exact, split, garbled,
 * misaddressed, corrupt, short and back-to-back frames.
 */
#include <stdio.h>
#include <string.h>

#include "../../drivers/mbpdu.h"
#include "../../drivers/rtuframe.h"
#include "check.h"

/* B[0..N) + its CRC (low byte first) into OUT; the length. */
static size_t with_crc(uint8_t *out, const uint8_t *b, size_t n)
{
	uint16_t crc = rtu_crc16(b, n);

	memcpy(out, b, n);
	out[n] = (uint8_t)(crc & 0xff);
	out[n + 1] = (uint8_t)(crc >> 8);
	return n + 2;
}

static void test_crc(void)
{
	static const uint8_t a[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a };
	/* the example of the Modbus serial line specification */
	static const uint8_t b[] = { 0x11, 0x03, 0x00, 0x6b, 0x00, 0x03 };

	CHECK(rtu_crc16(a, sizeof a) == 0xcdc5);          /* sent as C5 CD */
	CHECK(rtu_crc16(b, sizeof b) == 0x8776);          /* sent as 76 87 */
	CHECK(rtu_crc16((const uint8_t *)"123456789", 9) == 0x4b37);  /* the check value */
	CHECK(rtu_crc16(a, 0) == 0xffff);
}

static void test_wrap(void)
{
	static const uint8_t want[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a, 0xc5, 0xcd };
	uint8_t pdu[MBPDU_MAX], adu[RTU_ADU_MAX];
	uint16_t vals[2] = { 0x1234, 1 };
	int len = mbpdu_read(pdu, TABLE_HOLDING, 0, 10);

	CHECK(len == 5);
	CHECK(rtu_wrap(adu, 1, pdu, (size_t)len) == 8);
	CHECK(memcmp(adu, want, 8) == 0);
	len = mbpdu_write(pdu, TABLE_HOLDING, 0x10, 1, vals, true);
	CHECK(rtu_wrap(adu, 247, pdu, (size_t)len) == 8);
	CHECK(adu[0] == 247 && adu[1] == 6 && adu[4] == 0x12 && adu[5] == 0x34);
	CHECK(rtu_crc16(adu, 6) == (adu[6] | adu[7] << 8));
	CHECK(rtu_wrap(adu, 1, pdu, 0) == 0);
	CHECK(rtu_wrap(adu, 1, pdu, 254) == 0);
	memset(pdu, 0xab, sizeof pdu);
	CHECK(rtu_wrap(adu, 9, pdu, 253) == 256);
}

static void test_answer_len(void)
{
	static const struct {
		enum yw_table t;
		uint16_t count;
		size_t want;
	} reads[] = {
		{ TABLE_COIL, 1, 6 }, { TABLE_COIL, 8, 6 }, { TABLE_COIL, 9, 7 },
		{ TABLE_DISCRETE, 2000, 255 }, { TABLE_HOLDING, 1, 7 }, { TABLE_HOLDING, 10, 25 },
		{ TABLE_INPUT, 125, 255 },
	};
	uint8_t pdu[MBPDU_MAX];
	uint16_t vals[3] = { 1, 0, 1 };

	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		int len = mbpdu_read(pdu, reads[i].t, 7, reads[i].count);
		CHECK(len == 5 && rtu_answer_len(pdu, (size_t)len) == reads[i].want);
	}
	/* writes: the echo, 8 bytes, single or multiple */
	for (int t = TABLE_COIL; t <= TABLE_HOLDING; t += TABLE_HOLDING - TABLE_COIL) {
		int len = mbpdu_write(pdu, (enum yw_table)t, 3, 1, vals, true);
		CHECK(len > 0 && rtu_answer_len(pdu, (size_t)len) == 8);
		len = mbpdu_write(pdu, (enum yw_table)t, 3, 3, vals, false);
		CHECK(len > 0 && rtu_answer_len(pdu, (size_t)len) == 8);
	}
	/* unknown function, too short, quantity 0, an answer over 256 bytes */
	static const uint8_t fc43[] = { 0x2b, 0x0e, 0x01, 0x00, 0x00 };
	static const uint8_t q0[] = { 0x03, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t q126[] = { 0x03, 0x00, 0x00, 0x00, 126 };
	CHECK(rtu_answer_len(fc43, sizeof fc43) == 0);
	CHECK(rtu_answer_len(q0, 4) == 0);
	CHECK(rtu_answer_len(q0, sizeof q0) == 0);
	CHECK(rtu_answer_len(q126, sizeof q126) == 0);
	CHECK(RTU_EXC_LEN == 5);
}

/* The request of the scan cases: unit 1 reads holding 0..1 (answer: 9 bytes). */
static uint8_t req[MBPDU_MAX];
static size_t req_len;
static uint8_t ans[16];          /* 01 03 04 00 07 00 08 CRC */
static size_t ans_len;

static struct rtu_scan scan(const uint8_t *b, size_t n)
{
	return rtu_scan(b, n, 1, req, req_len);
}

static bool is(struct rtu_scan r, enum rtu_scan_kind k, size_t off, size_t n)
{
	if (r.kind == k && r.n == n && (k != RTU_FRAME || r.off == off))
		return true;
	fprintf(stderr, "%s: got kind %d off %zu n %zu, want kind %d off %zu n %zu\n", check_case,
		(int)r.kind, r.off, r.n, (int)k, off, n);
	return false;
}

static void test_scan_exact_and_split(void)
{
	uint16_t out[2];
	int exc = -1;

	check_case = "exact";
	CHECK(is(scan(ans, ans_len), RTU_FRAME, 0, 9));
	CHECK(mbpdu_check(req, req_len, ans + 1, ans_len - 3, out, &exc) == MBPDU_OK);
	CHECK(out[0] == 7 && out[1] == 8 && exc == 0);

	check_case = "split";
	CHECK(is(scan(ans, 0), RTU_NEED, 0, 5));
	CHECK(is(scan(ans, 1), RTU_NEED, 0, 4));       /* an exception is 5 bytes */
	for (size_t have = 2; have < ans_len; have++)
		CHECK(is(scan(ans, have), RTU_NEED, 0, ans_len - have));

	check_case = "short frame (cut after the byte count)";
	CHECK(is(scan(ans, 3), RTU_NEED, 0, 6));
	check_case = "";
}

static void test_scan_garbage(void)
{
	uint8_t b[64], bad[16], other[16];
	size_t n;

	check_case = "garbage before a frame";
	memcpy(b, "\xff\x00\x12", 3);
	memcpy(b + 3, ans, ans_len);
	CHECK(is(scan(b, 3 + ans_len), RTU_FRAME, 3, 9));

	check_case = "garbage holding the unit and function";
	memcpy(b, "\x01\x03\x99\x01\x83", 5);         /* wrong byte count; exception cut */
	memcpy(b + 5, ans, ans_len);
	CHECK(is(scan(b, 5 + ans_len), RTU_FRAME, 5, 9));

	check_case = "garbage before a partial frame";
	memcpy(b, "\xfe\xfe", 2);
	memcpy(b + 2, ans, 4);
	CHECK(is(scan(b, 6), RTU_SKIP, 0, 2));
	CHECK(is(scan(b + 2, 4), RTU_NEED, 0, 5));

	check_case = "only garbage";
	CHECK(is(scan((const uint8_t *)"\x55\xaa\x00\xff", 4), RTU_SKIP, 0, 4));

	check_case = "bad CRC";
	memcpy(bad, ans, ans_len);
	bad[ans_len - 1] ^= 0xff;
	CHECK(is(scan(bad, ans_len), RTU_SKIP, 0, ans_len));

	check_case = "bad CRC, then the frame again";
	memcpy(b, bad, ans_len);
	memcpy(b + ans_len, ans, ans_len);
	CHECK(is(scan(b, 2 * ans_len), RTU_FRAME, ans_len, 9));

	check_case = "wrong unit";
	memcpy(other, ans, ans_len);
	other[0] = 2;
	n = with_crc(other, other, ans_len - 2);
	CHECK(is(scan(other, n), RTU_SKIP, 0, n));
	CHECK(is(rtu_scan(other, n, 2, req, req_len), RTU_FRAME, 0, 9));

	check_case = "wrong function";
	memcpy(other, ans, ans_len);
	other[1] = 4;
	n = with_crc(other, other, ans_len - 2);
	CHECK(is(scan(other, n), RTU_SKIP, 0, n));

	check_case = "wrong byte count, good CRC";
	n = with_crc(other, (const uint8_t *)"\x01\x03\x02\x00\x07", 5);
	CHECK(is(scan(other, n), RTU_SKIP, 0, n));
	check_case = "";
}

static void test_scan_exception_and_writes(void)
{
	uint8_t exc_frame[8], b[32], pdu[MBPDU_MAX], echo[16];
	uint16_t val = 42;
	int exc = 0, len;
	size_t n = with_crc(exc_frame, (const uint8_t *)"\x01\x83\x02", 3);

	check_case = "exception";
	CHECK(is(scan(exc_frame, n), RTU_FRAME, 0, 5));
	CHECK(mbpdu_check(req, req_len, exc_frame + 1, 2, NULL, &exc) == MBPDU_EXCEPTION && exc == 2);
	CHECK(is(scan(exc_frame, 2), RTU_NEED, 0, 3));
	exc_frame[4] ^= 1;
	CHECK(is(scan(exc_frame, n), RTU_SKIP, 0, n));

	/* A normal answer whose data begins like an exception frame: while it
	 * is incomplete, it is waited for; its data are never an exception. */
	check_case = "exception inside an incomplete answer";
	n = with_crc(exc_frame, (const uint8_t *)"\x01\x83\x02", 3);
	memcpy(b, "\x01\x03\x04", 3);
	memcpy(b + 3, exc_frame, 5);                   /* 01 83 02 CRClo CRChi */
	CHECK(is(scan(b, 7), RTU_NEED, 0, 2));
	CHECK(is(scan(b, 8), RTU_NEED, 0, 1));
	CHECK(is(scan(b + 3, 5), RTU_FRAME, 0, 5));   /* on its own it is one */

	check_case = "write echo";
	len = mbpdu_write(pdu, TABLE_HOLDING, 0x10, 1, &val, true);
	n = with_crc(echo, (const uint8_t *)"\x05\x06\x00\x10\x00\x2a", 6);
	CHECK(is(rtu_scan(echo, n, 5, pdu, (size_t)len), RTU_FRAME, 0, 8));
	CHECK(mbpdu_check(pdu, (size_t)len, echo + 1, n - 3, NULL, &exc) == MBPDU_OK);
	CHECK(is(rtu_scan(echo, 7, 5, pdu, (size_t)len), RTU_NEED, 0, 1));
	check_case = "";
}

static void test_scan_back_to_back(void)
{
	uint8_t b[64];

	check_case = "two frames back to back";
	memcpy(b, ans, ans_len);
	memcpy(b + ans_len, ans, ans_len);
	CHECK(is(scan(b, 2 * ans_len), RTU_FRAME, 0, 9));
	CHECK(is(scan(b + ans_len, ans_len), RTU_FRAME, 0, 9));
	check_case = "a frame and the start of the next";
	CHECK(is(scan(b, ans_len + 3), RTU_FRAME, 0, 9));
	CHECK(is(scan(b + ans_len, 3), RTU_NEED, 0, 6));
	check_case = "";
}

/* The longest answer (125 registers) as it arrives in pieces. */
static void test_scan_long(void)
{
	uint8_t pdu[MBPDU_MAX], b[RTU_ADU_MAX + 8], body[RTU_ADU_MAX];
	uint16_t out[125];
	int len = mbpdu_read(pdu, TABLE_INPUT, 100, 125);
	size_t n, have;

	body[0] = 9;
	body[1] = 4;
	body[2] = 250;
	for (int i = 0; i < 125; i++) {
		body[3 + 2 * i] = (uint8_t)(i >> 8);
		body[4 + 2 * i] = (uint8_t)i;
	}
	n = with_crc(b, body, 253);
	CHECK(n == 255 && rtu_answer_len(pdu, (size_t)len) == 255);
	for (have = 0; have < n; have += 17)
		CHECK(rtu_scan(b, have, 9, pdu, (size_t)len).kind == RTU_NEED);
	CHECK(is(rtu_scan(b, n, 9, pdu, (size_t)len), RTU_FRAME, 0, 255));
	CHECK(mbpdu_check(pdu, (size_t)len, b + 1, n - 3, out, NULL) == MBPDU_OK);
	CHECK(out[0] == 0 && out[124] == 124);
}

int main(void)
{
	int len = mbpdu_read(req, TABLE_HOLDING, 0, 2);

	req_len = (size_t)len;
	ans_len = with_crc(ans, (const uint8_t *)"\x01\x03\x04\x00\x07\x00\x08", 7);
	test_crc();
	test_wrap();
	test_answer_len();
	test_scan_exact_and_split();
	test_scan_garbage();
	test_scan_exception_and_writes();
	test_scan_back_to_back();
	test_scan_long();
	return check_report();
}
