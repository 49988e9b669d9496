/*
 * test_codec_text: the text of a decoded value (SPEC "MQTT": the fewest
 * digits that identify it at the precision it was read with). Every case
 * is a raw register value of one type with a scale, offset and decimals; it
 * is laid out in each word order, decoded by the codec and printed by
 * numfmt, and must give the expected text, and (unless the value is beyond
 * what a double holds) encode back to the same registers. Then numfmt's own
 * edge cases.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/codec.h"
#include "../../drivers/numfmt.h"
#include "check.h"

static const enum yw_order orders[] = { ORDER_ABCD, ORDER_CDAB, ORDER_BADC, ORDER_DCBA };

struct tcase {
	enum yw_type type;
	uint64_t u;        /* integer types: the raw value (two's complement) */
	double f;          /* float32 / float64: the raw value */
	double scale, offset;
	int decimals;
	const char *want;
	int lossy;         /* 1: beyond 2^53 or past 15 significant digits: does not
	                      encode back to the same registers */
};

#define I(type, raw, scale, offset, dec, want) \
	{ type, (uint64_t)(raw), 0, scale, offset, dec, want, 0 }
#define F(type, raw, scale, offset, dec, want) \
	{ type, 0, raw, scale, offset, dec, want, 0 }
#define LOSSY(type, raw, want) { type, (uint64_t)(raw), 0, 1, 0, 0, want, 1 }
#define FLOSSY(type, raw, scale, want) { type, 0, raw, scale, 0, 0, want, 1 }

static const struct tcase cases[] = {
	I(TYPE_INT16, 0, 1, 0, 0, "0"),
	I(TYPE_INT16, -5, 0.1, 0, 0, "-0.5"),
	I(TYPE_INT16, -5, 1, 0, 0, "-5"),
	I(TYPE_INT16, 32767, 1, 0, 0, "32767"),
	I(TYPE_INT16, -32768, 1, 0, 0, "-32768"),
	I(TYPE_INT16, 1234, 0.1, 0, 0, "123.4"),
	I(TYPE_INT16, -1234, 0.1, 0, 0, "-123.4"),
	I(TYPE_INT16, 0, -0.1, 0, 0, "0"),                  /* never "-0" */
	I(TYPE_INT16, 7, 1, 0, 9, "7e-9"),
	I(TYPE_INT16, -3, 0.1, 0.3, 0, "0"),
	I(TYPE_UINT16, 350, 0.001, 0, 0, "0.35"),
	I(TYPE_UINT16, 3, 0.1, 0, 0, "0.3"),
	I(TYPE_UINT16, 1, 0.1, 0.2, 0, "0.3"),
	I(TYPE_UINT16, 7, 0.25, 0, 0, "1.75"),
	I(TYPE_UINT16, 100, 0.25, 0, 0, "25"),
	I(TYPE_UINT16, 500, 1, -40, 0, "460"),
	I(TYPE_UINT16, 500, 0.1, -40, 0, "10"),
	I(TYPE_UINT16, 12345, 1, 0, 2, "123.45"),
	I(TYPE_UINT16, 12345, 0.1, 0, 2, "12.345"),
	I(TYPE_UINT16, 5, 10, 0, 3, "0.05"),
	I(TYPE_UINT16, 65535, 1, 0, 0, "65535"),
	I(TYPE_UINT16, 65535, 0.0001, 0, 0, "6.5535"),
	I(TYPE_UINT16, 333, 1.5e-6, 0, 0, "0.0004995"),
	I(TYPE_UINT16, 3, 0.30000000000000004, 0, 0, "0.9"),  /* 15 significant digits */
	I(TYPE_INT32, -123456789, 0.001, 0, 0, "-123456.789"),
	I(TYPE_INT32, INT32_MIN, 1, 0, 0, "-2147483648"),
	I(TYPE_INT32, 2147483647, 0.01, 0, 0, "21474836.47"),
	I(TYPE_UINT32, 123456789, 0.01, 0, 0, "1234567.89"),
	I(TYPE_UINT32, 4294967295u, 1, 0, 0, "4294967295"),
	I(TYPE_UINT32, 4294967295u, 0.001, 0, 0, "4294967.295"),
	I(TYPE_UINT32, 1, 0.1, 0, 9, "1e-10"),
	I(TYPE_INT64, -1234567890123456, 1, 0, 0, "-1234567890123456"),
	I(TYPE_INT64, -1234567890123, 0.001, 0, 0, "-1234567890.123"),
	I(TYPE_INT64, 9007199254740992, 1, 0, 0, "9007199254740992"),   /* 2^53 */
	I(TYPE_INT64, INT64_MIN, 1, 0, 0, "-9223372036854775808"),
	I(TYPE_INT64, 123456789012345, 0.01, 0, 0, "1234567890123.45"),
	LOSSY(TYPE_INT64, INT64_MAX, "9223372036854775808"),           /* nearest double */
	LOSSY(TYPE_INT64, 9007199254740993, "9007199254740992"),        /* 2^53 + 1 */
	I(TYPE_UINT64, 0, 1, 0, 0, "0"),
	I(TYPE_UINT64, 12345678901234, 0.001, 0, 0, "12345678901.234"),
	I(TYPE_UINT64, 123456, 1, 0, 3, "123.456"),
	I(TYPE_UINT64, 1000000000000000, 1, 0, 0, "1000000000000000"),
	LOSSY(TYPE_UINT64, UINT64_MAX, "18446744073709551616"),         /* 2^64, nearest double */
	F(TYPE_FLOAT32, 229.1136, 1, 0, 0, "229.1136"),
	F(TYPE_FLOAT32, 0.1, 1, 0, 0, "0.1"),
	F(TYPE_FLOAT32, -2.5, 1, 0, 0, "-2.5"),
	F(TYPE_FLOAT32, 123.456, 1, 0, 0, "123.456"),
	F(TYPE_FLOAT32, 16777216, 1, 0, 0, "16777216"),
	F(TYPE_FLOAT32, 0, 1, 0, 0, "0"),
	F(TYPE_FLOAT32, -0.0, 1, 0, 0, "0"),
	F(TYPE_FLOAT32, 1e-45, 1, 0, 0, "1e-45"),                       /* smallest denormal */
	F(TYPE_FLOAT32, FLT_MIN, 1, 0, 0, "1.1754944e-38"),
	F(TYPE_FLOAT32, FLT_MAX, 1, 0, 0, "3.4028235e+38"),
	F(TYPE_FLOAT32, -FLT_MAX, 1, 0, 0, "-3.4028235e+38"),
	F(TYPE_FLOAT32, 3, 0.5, 0, 0, "1.5"),
	F(TYPE_FLOAT32, 229.1136, 0.001, 0, 0, "0.2291136"),
	F(TYPE_FLOAT32, 229.1136, 1, -229, 0, "0.1136"),
	F(TYPE_FLOAT32, 123.456, 1, -23.456, 0, "100"),
	F(TYPE_FLOAT32, 1.1, 3, 0, 0, "3.3"),
	F(TYPE_FLOAT32, 0.1, 1, 0, 1, "0.01"),
	F(TYPE_FLOAT32, 1.5, 2, 1, 0, "4"),
	F(TYPE_FLOAT32, 229.1136, 1.2345, 0, 0, "282.840739"),           /* 9 significant */
	F(TYPE_FLOAT64, 0.1, 1, 0, 0, "0.1"),
	F(TYPE_FLOAT64, 0.30000000000000004, 1, 0, 0, "0.30000000000000004"),  /* as read */
	FLOSSY(TYPE_FLOAT64, 0.30000000000000004, 10, "3"),    /* 15 significant: noise dropped */
	F(TYPE_FLOAT64, 123.456, 1, -23.456, 0, "100"),
	F(TYPE_FLOAT64, 0.1, 0.001, 0, 0, "0.0001"),
	F(TYPE_FLOAT64, -1234567890123456, 1, 0, 0, "-1234567890123456"),
	F(TYPE_FLOAT64, 1e21, 1, 0, 0, "1e+21"),
	F(TYPE_FLOAT64, 1e-7, 1, 0, 0, "1e-7"),
	F(TYPE_FLOAT64, DBL_MAX, 1, 0, 0, "1.7976931348623157e+308"),
	F(TYPE_FLOAT64, 5e-324, 1, 0, 0, "5e-324"),
	F(TYPE_FLOAT64, -0.0, 1, 0, 0, "0"),
	F(TYPE_FLOAT64, 2.5, 1, 0, 1, "0.25"),
};

/* The ABCD image of case C in N registers. */
static void image(const struct tcase *c, int n, uint16_t *abcd)
{
	uint64_t v = c->u;

	if (c->type == TYPE_FLOAT32) {
		float f = (float)c->f;
		uint32_t u32;

		memcpy(&u32, &f, sizeof u32);
		v = u32;
	} else if (c->type == TYPE_FLOAT64) {
		memcpy(&v, &c->f, sizeof v);
	}
	for (int i = n - 1; i >= 0; i--, v >>= 16)
		abcd[i] = (uint16_t)(v & 0xffff);
}

/* The SPEC's word-order rule applied to an ABCD image. */
static void permute(const uint16_t *abcd, int n, enum yw_order o, uint16_t *out)
{
	for (int i = 0; i < n; i++) {
		uint16_t w = abcd[i];

		if (o == ORDER_BADC || o == ORDER_DCBA)
			w = (uint16_t)((w >> 8) | ((w & 0xFF) << 8));
		out[(o == ORDER_CDAB || o == ORDER_DCBA) ? n - 1 - i : i] = w;
	}
}

static struct point_cfg mkpt(enum yw_table t, enum yw_type type, enum yw_order o)
{
	struct point_cfg p;

	memset(&p, 0, sizeof p);
	strcpy(p.name, "p");
	p.table = t;
	p.type = type;
	p.order = o;
	p.bit = -1;
	p.scale = 1.0;
	p.decimals_from = -1;
	return p;
}

static void test_cases(void)
{
	char label[96], got[NUMFMT_LEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct tcase *c = &cases[i];

		for (size_t o = 0; o < 4; o++) {
			struct point_cfg p = mkpt(TABLE_HOLDING, c->type, orders[o]);
			uint16_t abcd[4], regs[4], back[4];
			int n = codec_width(&p);
			double v = NAN;

			snprintf(label, sizeof label, "case %zu %s %s", i, point_type_name(c->type),
				 point_order_name(orders[o]));
			check_case = label;
			p.scale = c->scale;
			p.offset = c->offset;
			image(c, n, abcd);
			permute(abcd, n, orders[o], regs);
			CHECK(codec_decode(&p, regs, c->decimals, &v) == CODEC_OK);
			numfmt_double(v, got, sizeof got);
			CHECK(strcmp(got, c->want) == 0);
			if (strcmp(got, c->want) != 0)
				fprintf(stderr, "  got %s, want %s\n", got, c->want);
			if (c->lossy)
				continue;
			/* the value people see writes back the same registers
			 * (-0.0 comes back as +0.0: compare values for it) */
			CHECK(codec_encode(&p, v, c->decimals, back) == CODEC_OK);
			CHECK(memcmp(back, regs, (size_t)n * sizeof back[0]) == 0 ||
			      (c->f == 0 && c->u == 0));
		}
	}
	check_case = "";
}

static void test_bools(void)
{
	static const struct { enum yw_table t; int bit; uint16_t reg; const char *want; } bc[] = {
		{ TABLE_COIL, -1, 1, "1" }, { TABLE_COIL, -1, 0, "0" },
		{ TABLE_DISCRETE, -1, 1, "1" }, { TABLE_HOLDING, -1, 0x0200, "1" },
		{ TABLE_HOLDING, -1, 0, "0" }, { TABLE_INPUT, 3, 0x0008, "1" },
		{ TABLE_INPUT, 3, 0xFFF7, "0" },
	};
	char got[NUMFMT_LEN];

	for (size_t i = 0; i < sizeof bc / sizeof bc[0]; i++) {
		for (size_t o = 0; o < 4; o++) {
			struct point_cfg p = mkpt(bc[i].t, TYPE_BOOL, orders[o]);
			double v = NAN;

			p.bit = bc[i].bit;
			p.scale = 0.001;   /* never applied to a bool */
			p.offset = 0.5;
			CHECK(codec_decode(&p, &bc[i].reg, 2, &v) == CODEC_OK);
			CHECK(strcmp(numfmt_double(v, got, sizeof got), bc[i].want) == 0);
		}
	}
}

static void test_numfmt(void)
{
	static const struct { double v; const char *want; } fc[] = {
		{ 0, "0" }, { -0.0, "0" }, { 5, "5" }, { -5, "-5" }, { 5.5, "5.5" },
		{ 0.1 + 0.2, "0.30000000000000004" }, { 0.35, "0.35" },
		{ 1e21, "1e+21" }, { -1e21, "-1e+21" }, { 1e20, "100000000000000000000" },
		{ 999999999999999868928.0, "999999999999999868928" },   /* largest below 1e21 */
		{ 1e-7, "1e-7" }, { -1e-7, "-1e-7" }, { 1.5e-5, "1.5e-5" }, { 0.000123, "0.000123" },
		{ 123456.789, "123456.789" }, { 1e100, "1e+100" }, { 1.5e300, "1.5e+300" },
		{ 0x1p64, "18446744073709551616" }, { -0x1p63, "-9223372036854775808" },
		{ 9007199254740993.0, "9007199254740992" }, { 2.5e-308, "2.5e-308" },
		{ DBL_MIN, "2.2250738585072014e-308" }, { 4.9e-324, "5e-324" },
		{ 1.0 / 3, "0.3333333333333333" }, { 2.0 / 3, "0.6666666666666666" },
		{ 100, "100" }, { 1e15 + 0.5, "1000000000000000.5" },
		{ NAN, "nan" }, { INFINITY, "inf" }, { -INFINITY, "-inf" },
	};
	char got[NUMFMT_LEN], small[4];
	uint64_t seed = 88172645463325252ull;

	for (size_t i = 0; i < sizeof fc / sizeof fc[0]; i++) {
		numfmt_double(fc[i].v, got, sizeof got);
		CHECK(strcmp(got, fc[i].want) == 0);
		if (strcmp(got, fc[i].want) != 0)
			fprintf(stderr, "  numfmt(%.17g): got %s, want %s\n", fc[i].v, got, fc[i].want);
	}
	/* a short buffer truncates, never overflows; an empty one is left alone */
	CHECK(strcmp(numfmt_double(123456.5, small, sizeof small), "123") == 0);
	small[0] = 'x';
	numfmt_double(1, small, 0);
	CHECK(small[0] == 'x');
	/* random doubles (and float32s) read back as themselves, with no digit
	 * to spare */
	for (int i = 0; i < 20000; i++) {
		double v;
		float f;
		char *end, text[400];
		int n;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		memcpy(&v, &seed, sizeof v);
		if (!isfinite(v))
			continue;
		numfmt_double(v, got, sizeof got);
		CHECK(strtod(got, &end) == v && *end == '\0');
		n = numfmt_digits(v);
		CHECK(n >= 1 && n <= 17);
		if (n > 1) {   /* one digit fewer does not read back */
			snprintf(text, sizeof text, "%.*g", n - 1, v);
			CHECK(strtod(text, NULL) != v);
		}
		/* the same for a float32 */
		memcpy(&f, &seed, sizeof f);
		if (!isfinite(f) || (n = numfmt_digits_float(f)) == 1)
			continue;
		snprintf(text, sizeof text, "%.*g", n, (double)f);
		CHECK(strtof(text, NULL) == f);
		snprintf(text, sizeof text, "%.*g", n - 1, (double)f);
		CHECK(strtof(text, NULL) != f);
	}
	CHECK(numfmt_digits(0.1) == 1 && numfmt_digits(0.1 + 0.2) == 17);
	CHECK(numfmt_digits_float(229.1136f) == 7 && numfmt_digits_float(0.1f) == 1);
	CHECK(numfmt_digits_float(16777217.0f) == 8);
}

int main(void)
{
	test_cases();
	test_bools();
	test_numfmt();
	return check_report();
}
