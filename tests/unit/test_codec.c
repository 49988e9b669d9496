/*
 * test_codec: registers <-> values for every type, word order, bit, scale,
 * offset and decimals; NaN/Inf rejection; encode range checks.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../drivers/codec.h"
#include "check.h"



static const enum yw_order orders[] = { ORDER_ABCD, ORDER_CDAB, ORDER_BADC, ORDER_DCBA };
static const char *const order_names[] = { "ABCD", "CDAB", "BADC", "DCBA" };

static struct point_cfg mkpt(enum yw_table t, enum yw_type type, enum yw_order o)
{
	struct point_cfg p;

	memset(&p, 0, sizeof(p));
	strcpy(p.name, "p");
	p.table = t;
	p.type = type;
	p.order = o;
	p.bit = -1;
	p.scale = 1.0;
	p.offset = 0.0;
	p.decimals_from = -1;
	return p;
}

/* Known register images, written out by hand from the SPEC's word-order rule. */
struct vec {
	enum yw_type type;
	enum yw_order order;
	uint16_t regs[4];
	double value;
};

#define F32_123 ((double)123.456f)

static const struct vec vecs[] = {
	/* float32 123.456 = 0x42F6E979 */
	{ TYPE_FLOAT32, ORDER_ABCD, { 0x42F6, 0xE979 }, F32_123 },
	{ TYPE_FLOAT32, ORDER_CDAB, { 0xE979, 0x42F6 }, F32_123 },
	{ TYPE_FLOAT32, ORDER_BADC, { 0xF642, 0x79E9 }, F32_123 },
	{ TYPE_FLOAT32, ORDER_DCBA, { 0x79E9, 0xF642 }, F32_123 },
	/* float32 -2.5 = 0xC0200000 */
	{ TYPE_FLOAT32, ORDER_ABCD, { 0xC020, 0x0000 }, -2.5 },
	{ TYPE_FLOAT32, ORDER_CDAB, { 0x0000, 0xC020 }, -2.5 },
	{ TYPE_FLOAT32, ORDER_BADC, { 0x20C0, 0x0000 }, -2.5 },
	{ TYPE_FLOAT32, ORDER_DCBA, { 0x0000, 0x20C0 }, -2.5 },
	/* int32 -2 = 0xFFFFFFFE */
	{ TYPE_INT32, ORDER_ABCD, { 0xFFFF, 0xFFFE }, -2 },
	{ TYPE_INT32, ORDER_CDAB, { 0xFFFE, 0xFFFF }, -2 },
	{ TYPE_INT32, ORDER_BADC, { 0xFFFF, 0xFEFF }, -2 },
	{ TYPE_INT32, ORDER_DCBA, { 0xFEFF, 0xFFFF }, -2 },
	{ TYPE_INT32, ORDER_ABCD, { 0x8000, 0x0000 }, -2147483648.0 },
	{ TYPE_INT32, ORDER_DCBA, { 0xFFFF, 0xFF7F }, 2147483647.0 },
	/* uint32 0x12345678 */
	{ TYPE_UINT32, ORDER_ABCD, { 0x1234, 0x5678 }, 305419896.0 },
	{ TYPE_UINT32, ORDER_CDAB, { 0x5678, 0x1234 }, 305419896.0 },
	{ TYPE_UINT32, ORDER_BADC, { 0x3412, 0x7856 }, 305419896.0 },
	{ TYPE_UINT32, ORDER_DCBA, { 0x7856, 0x3412 }, 305419896.0 },
	{ TYPE_UINT32, ORDER_ABCD, { 0xFFFF, 0xFFFF }, 4294967295.0 },
	/* int64 -1234567890123 = 0xFFFFFEE08E04FB35 */
	{ TYPE_INT64, ORDER_ABCD, { 0xFFFF, 0xFEE0, 0x8E04, 0xFB35 }, -1234567890123.0 },
	{ TYPE_INT64, ORDER_CDAB, { 0xFB35, 0x8E04, 0xFEE0, 0xFFFF }, -1234567890123.0 },
	{ TYPE_INT64, ORDER_BADC, { 0xFFFF, 0xE0FE, 0x048E, 0x35FB }, -1234567890123.0 },
	{ TYPE_INT64, ORDER_DCBA, { 0x35FB, 0x048E, 0xE0FE, 0xFFFF }, -1234567890123.0 },
	/* int64 -2 */
	{ TYPE_INT64, ORDER_ABCD, { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE }, -2 },
	{ TYPE_INT64, ORDER_CDAB, { 0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF }, -2 },
	{ TYPE_INT64, ORDER_BADC, { 0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF }, -2 },
	{ TYPE_INT64, ORDER_DCBA, { 0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF }, -2 },
	{ TYPE_INT64, ORDER_ABCD, { 0x8000, 0x0000, 0x0000, 0x0000 }, -0x1p63 },
	/* uint64 0x0102030405060700 */
	{ TYPE_UINT64, ORDER_ABCD, { 0x0102, 0x0304, 0x0506, 0x0700 }, 72623859790382848.0 },
	{ TYPE_UINT64, ORDER_CDAB, { 0x0700, 0x0506, 0x0304, 0x0102 }, 72623859790382848.0 },
	{ TYPE_UINT64, ORDER_BADC, { 0x0201, 0x0403, 0x0605, 0x0007 }, 72623859790382848.0 },
	{ TYPE_UINT64, ORDER_DCBA, { 0x0007, 0x0605, 0x0403, 0x0201 }, 72623859790382848.0 },
	{ TYPE_UINT64, ORDER_ABCD, { 0xFFFF, 0xFFFF, 0xFFFF, 0xF800 }, 18446744073709549568.0 },
	/* float64 123.456 = 0x405EDD2F1A9FBE77 */
	{ TYPE_FLOAT64, ORDER_ABCD, { 0x405E, 0xDD2F, 0x1A9F, 0xBE77 }, 123.456 },
	{ TYPE_FLOAT64, ORDER_CDAB, { 0xBE77, 0x1A9F, 0xDD2F, 0x405E }, 123.456 },
	{ TYPE_FLOAT64, ORDER_BADC, { 0x5E40, 0x2FDD, 0x9F1A, 0x77BE }, 123.456 },
	{ TYPE_FLOAT64, ORDER_DCBA, { 0x77BE, 0x9F1A, 0x2FDD, 0x5E40 }, 123.456 },
	/* float64 -0.1 = 0xBFB999999999999A */
	{ TYPE_FLOAT64, ORDER_ABCD, { 0xBFB9, 0x9999, 0x9999, 0x999A }, -0.1 },
	{ TYPE_FLOAT64, ORDER_DCBA, { 0x9A99, 0x9999, 0x9999, 0xB9BF }, -0.1 },
	/* 16-bit: CDAB = ABCD, BADC = DCBA = byte-swapped */
	{ TYPE_INT16, ORDER_ABCD, { 0xFFFE }, -2 },
	{ TYPE_INT16, ORDER_CDAB, { 0xFFFE }, -2 },
	{ TYPE_INT16, ORDER_BADC, { 0xFEFF }, -2 },
	{ TYPE_INT16, ORDER_DCBA, { 0xFEFF }, -2 },
	{ TYPE_INT16, ORDER_ABCD, { 0x8000 }, -32768 },
	{ TYPE_INT16, ORDER_BADC, { 0x0080 }, -32768 },
	{ TYPE_INT16, ORDER_ABCD, { 0x7FFF }, 32767 },
	{ TYPE_UINT16, ORDER_ABCD, { 0x1234 }, 4660 },
	{ TYPE_UINT16, ORDER_CDAB, { 0x1234 }, 4660 },
	{ TYPE_UINT16, ORDER_BADC, { 0x3412 }, 4660 },
	{ TYPE_UINT16, ORDER_DCBA, { 0x3412 }, 4660 },
	{ TYPE_UINT16, ORDER_ABCD, { 0xFFFF }, 65535 },
};

static void test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		struct point_cfg p = mkpt(TABLE_HOLDING, v->type, v->order);
		uint16_t out[4] = { 0 };
		double raw = 0, val = 0;
		int n = codec_width(&p);

		CHECK(codec_decode_raw(&p, v->regs, &raw) == CODEC_OK);
		CHECK(raw == v->value);
		CHECK(codec_decode(&p, v->regs, 0, &val) == CODEC_OK);
		/* a float32 decodes to its shortest decimal (test_codec_text) */
		CHECK(v->type == TYPE_FLOAT32 ? (float)val == (float)v->value : val == v->value);
		CHECK(codec_encode(&p, v->value, 0, out) == CODEC_OK);
		CHECK(memcmp(out, v->regs, (size_t)n * sizeof(uint16_t)) == 0);
		if (raw != v->value || memcmp(out, v->regs, (size_t)n * sizeof(uint16_t)) != 0)
			fprintf(stderr, "  vector %zu (%s): got %.17g\n", i,
				order_names[v->order], raw);
	}
}

static void test_width(void)
{
	static const struct { enum yw_table t; enum yw_type type; int bit; int w; } cases[] = {
		{ TABLE_COIL, TYPE_BOOL, -1, 1 },
		{ TABLE_DISCRETE, TYPE_BOOL, -1, 1 },
		{ TABLE_HOLDING, TYPE_BOOL, 3, 1 },
		{ TABLE_INPUT, TYPE_BOOL, -1, 1 },
		{ TABLE_INPUT, TYPE_INT16, -1, 1 },
		{ TABLE_INPUT, TYPE_UINT16, -1, 1 },
		{ TABLE_INPUT, TYPE_INT32, -1, 2 },
		{ TABLE_INPUT, TYPE_UINT32, -1, 2 },
		{ TABLE_HOLDING, TYPE_FLOAT32, -1, 2 },
		{ TABLE_HOLDING, TYPE_INT64, -1, 4 },
		{ TABLE_HOLDING, TYPE_UINT64, -1, 4 },
		{ TABLE_HOLDING, TYPE_FLOAT64, -1, 4 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct point_cfg p = mkpt(cases[i].t, cases[i].type, ORDER_ABCD);

		p.bit = cases[i].bit;
		CHECK(codec_width(&p) == cases[i].w);
	}
}

static void test_bits(void)
{
	static const struct { uint16_t reg; int bit; double want; } cases[] = {
		{ 0x8001, 0, 1 }, { 0x8001, 15, 1 }, { 0x8001, 1, 0 },
		{ 0x7FFE, 0, 0 }, { 0x7FFE, 15, 0 }, { 0x7FFE, 14, 1 },
		{ 0x0100, 8, 1 }, { 0x0100, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t o = 0; o < 4; o++) {
			struct point_cfg p = mkpt(o % 2 ? TABLE_INPUT : TABLE_HOLDING,
						  TYPE_BOOL, orders[o]);
			double v = -1;

			p.bit = cases[i].bit;
			p.scale = 10;   /* never applied to a bool */
			p.offset = 5;
			CHECK(codec_decode(&p, &cases[i].reg, 0, &v) == CODEC_OK);
			CHECK(v == cases[i].want);
		}
	}
	/* bit out of range */
	{
		struct point_cfg p = mkpt(TABLE_HOLDING, TYPE_BOOL, ORDER_ABCD);
		uint16_t r = 0xFFFF;
		double v;

		p.bit = 16;
		CHECK(codec_decode(&p, &r, 0, &v) == CODEC_BAD);
		CHECK(codec_encode(&p, 1, 0, &r) == CODEC_BAD);
	}
	/* bool on a register without bit: non-zero is 1 */
	{
		struct point_cfg p = mkpt(TABLE_HOLDING, TYPE_BOOL, ORDER_ABCD);
		uint16_t r0 = 0, r1 = 0x0200;
		double v;

		CHECK(codec_decode(&p, &r0, 0, &v) == CODEC_OK && v == 0);
		CHECK(codec_decode(&p, &r1, 0, &v) == CODEC_OK && v == 1);
	}
	/* coils and discretes */
	{
		struct point_cfg c = mkpt(TABLE_COIL, TYPE_BOOL, ORDER_ABCD);
		struct point_cfg d = mkpt(TABLE_DISCRETE, TYPE_BOOL, ORDER_DCBA);
		uint16_t on = 1, off = 0;
		double v;

		CHECK(codec_decode(&c, &on, 0, &v) == CODEC_OK && v == 1);
		CHECK(codec_decode(&c, &off, 0, &v) == CODEC_OK && v == 0);
		CHECK(codec_decode(&d, &on, 0, &v) == CODEC_OK && v == 1);
		CHECK(codec_decode(&d, &off, 0, &v) == CODEC_OK && v == 0);
		CHECK(codec_decode_bit(0) == 0.0);
		CHECK(codec_decode_bit(1) == 1.0);
		CHECK(codec_decode_bit(7) == 1.0);
	}
}

static void test_scale(void)
{
	static const struct {
		enum yw_type type;
		uint16_t regs[4];
		double scale, offset;
		int decimals;
		double want;
	} cases[] = {
		{ TYPE_INT16, { 1234 }, 0.1, 0, 0, 123.4 },
		{ TYPE_INT16, { 0xFB2E }, 0.1, 0, 0, -123.4 },          /* raw -1234 */
		{ TYPE_UINT16, { 500 }, 1, -40, 0, 460 },
		{ TYPE_UINT16, { 12345 }, 1, 0, 2, 123.45 },
		{ TYPE_UINT16, { 5 }, 10, 0, 3, 0.05 },
		{ TYPE_UINT16, { 7 }, 1, 0, 9, 7e-9 },
		{ TYPE_UINT16, { 100 }, -0.5, 0, 0, -50 },
		{ TYPE_UINT16, { 100 }, -0.5, 3, 1, -2 },
		{ TYPE_INT32, { 0x0001, 0x0000 }, 0.01, 0, 0, 655.36 },
		{ TYPE_FLOAT32, { 0x3FC0, 0x0000 }, 2, 1, 0, 4 },        /* 1.5 */
		{ TYPE_FLOAT32, { 0x3FC0, 0x0000 }, 1, 0, 1, 0.15 },
		{ TYPE_UINT32, { 0x0001, 0xE240 }, 0.001, 0, 0, 123.456 }, /* 123456 */
		{ TYPE_UINT64, { 0, 0, 0x0001, 0xE240 }, 1, 0, 3, 123.456 },
		{ TYPE_FLOAT64, { 0x405E, 0xDD2F, 0x1A9F, 0xBE77 }, 1, -23.456, 0, 100 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct point_cfg p = mkpt(TABLE_INPUT, cases[i].type, ORDER_ABCD);
		double v = NAN;

		p.scale = cases[i].scale;
		p.offset = cases[i].offset;
		CHECK(codec_decode(&p, cases[i].regs, cases[i].decimals, &v) == CODEC_OK);
		CHECK(fabs(v - cases[i].want) <= 1e-9 * fmax(1.0, fabs(cases[i].want)));
		if (!(fabs(v - cases[i].want) <= 1e-9 * fmax(1.0, fabs(cases[i].want))))
			fprintf(stderr, "  scale case %zu: got %.17g\n", i, v);
	}
	/* decimals outside 0..9 */
	{
		struct point_cfg p = mkpt(TABLE_INPUT, TYPE_UINT16, ORDER_ABCD);
		uint16_t r[4] = { 1 };
		double v;

		CHECK(codec_decode(&p, r, 10, &v) == CODEC_BAD);
		CHECK(codec_decode(&p, r, -1, &v) == CODEC_BAD);
		CHECK(codec_decode(&p, r, 9, &v) == CODEC_OK);
		CHECK(codec_encode(&p, 1, 10, r) == CODEC_BAD);
		CHECK(codec_encode(&p, 1, -1, r) == CODEC_BAD);
	}
	/* scaling overflows a float64 to Inf: bad, never a number */
	{
		struct point_cfg p = mkpt(TABLE_INPUT, TYPE_FLOAT64, ORDER_ABCD);
		uint16_t r[4] = { 0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF };   /* DBL_MAX */
		double v;

		CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == DBL_MAX);
		p.scale = 10;
		CHECK(codec_decode(&p, r, 0, &v) == CODEC_BAD);
	}
}

/* The SPEC's rule applied to an ABCD image (for the NaN cases only; the
 * vectors above are written out by hand). */
static void permute(const uint16_t *abcd, int n, enum yw_order o, uint16_t *out)
{
	for (int i = 0; i < n; i++) {
		uint16_t w = abcd[i];

		if (o == ORDER_BADC || o == ORDER_DCBA)
			w = (uint16_t)((w >> 8) | ((w & 0xFF) << 8));
		out[(o == ORDER_CDAB || o == ORDER_DCBA) ? n - 1 - i : i] = w;
	}
}

static void test_nonfinite(void)
{
	static const struct { enum yw_type type; uint16_t abcd[4]; } cases[] = {
		{ TYPE_FLOAT32, { 0x7FC0, 0x0000 } },   /* quiet NaN */
		{ TYPE_FLOAT32, { 0xFFC0, 0x0001 } },   /* negative NaN with payload */
		{ TYPE_FLOAT32, { 0x7F80, 0x0001 } },   /* signalling NaN */
		{ TYPE_FLOAT32, { 0x7F80, 0x0000 } },   /* +Inf */
		{ TYPE_FLOAT32, { 0xFF80, 0x0000 } },   /* -Inf */
		{ TYPE_FLOAT64, { 0x7FF8, 0, 0, 0 } },  /* quiet NaN */
		{ TYPE_FLOAT64, { 0x7FF0, 0, 0, 1 } },  /* signalling NaN */
		{ TYPE_FLOAT64, { 0x7FF0, 0, 0, 0 } },  /* +Inf */
		{ TYPE_FLOAT64, { 0xFFF0, 0, 0, 0 } },  /* -Inf */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t o = 0; o < 4; o++) {
			struct point_cfg p = mkpt(TABLE_HOLDING, cases[i].type, orders[o]);
			uint16_t r[4];
			double v = 42;

			permute(cases[i].abcd, codec_width(&p), orders[o], r);
			CHECK(codec_decode_raw(&p, r, &v) == CODEC_BAD);
			CHECK(codec_decode(&p, r, 0, &v) == CODEC_BAD);
		}
	}
}

static void test_roundtrip(void)
{
	static const struct { enum yw_type type; double vals[6]; size_t n; } cases[] = {
		{ TYPE_INT16, { -32768, -2, 0, 12345, 32767 }, 5 },
		{ TYPE_UINT16, { 0, 1, 43981, 65535 }, 4 },
		{ TYPE_INT32, { -2147483648.0, -2, 0, 123456789, 2147483647.0 }, 5 },
		{ TYPE_UINT32, { 0, 1, 305419896, 4294967295.0 }, 4 },
		{ TYPE_INT64, { -0x1p63, -1234567890123.0, -1, 0x1p53, 9223372036854774784.0 }, 5 },
		{ TYPE_UINT64, { 0, 1, 72623859790382848.0, 18446744073709549568.0 }, 4 },
		{ TYPE_FLOAT32, { (double)123.456f, (double)-1e-3f, (double)FLT_MAX,
				  (double)-FLT_MAX, (double)FLT_MIN, 0 }, 6 },
		{ TYPE_FLOAT64, { 123.456, -0.1, DBL_MAX, -DBL_MAX, 4.9e-324, 0 }, 6 },
		{ TYPE_BOOL, { 0, 1 }, 2 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t o = 0; o < 4; o++) {
			for (size_t k = 0; k < cases[i].n; k++) {
				struct point_cfg p = mkpt(TABLE_HOLDING, cases[i].type, orders[o]);
				uint16_t r[4] = { 0 };
				double v = NAN;

				CHECK(codec_encode(&p, cases[i].vals[k], 0, r) == CODEC_OK);
				CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK);
				CHECK(cases[i].type == TYPE_FLOAT32 ?
				      (float)v == (float)cases[i].vals[k] : v == cases[i].vals[k]);
			}
		}
	}
	/* with scale, offset and decimals: rounding to the nearest raw value */
	{
		static const struct {
			enum yw_type type; double scale, offset; int dec; double val;
			uint16_t want[4];
		} sc[] = {
			{ TYPE_INT16, 0.1, 0, 0, 123.4, { 1234 } },
			{ TYPE_INT16, 0.1, 0, 0, -123.4, { 0xFB2E } },
			{ TYPE_INT16, 0.1, 0, 0, 123.44, { 1234 } },
			{ TYPE_INT16, 0.1, 0, 0, 123.46, { 1235 } },
			{ TYPE_UINT16, 1, -40, 0, 460, { 500 } },
			{ TYPE_UINT16, 1, 0, 2, 123.45, { 12345 } },
			{ TYPE_UINT16, -0.5, 0, 0, -50, { 100 } },
			{ TYPE_INT16, -1, 0, 0, 5, { 0xFFFB } },
			{ TYPE_UINT32, 0.001, 0, 0, 123.456, { 0x0001, 0xE240 } },
			{ TYPE_UINT64, 1, 0, 3, 123.456, { 0, 0, 0x0001, 0xE240 } },
			{ TYPE_FLOAT32, 2, 1, 0, 4, { 0x3FC0, 0x0000 } },
			{ TYPE_FLOAT32, 1, 0, 1, 15, { 0x4316, 0x0000 } },   /* 150 */
		};

		for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
			struct point_cfg p = mkpt(TABLE_HOLDING, sc[i].type, ORDER_ABCD);
			uint16_t r[4] = { 0 };
			double v = NAN;
			int n = codec_width(&p);

			p.scale = sc[i].scale;
			p.offset = sc[i].offset;
			CHECK(codec_encode(&p, sc[i].val, sc[i].dec, r) == CODEC_OK);
			CHECK(memcmp(r, sc[i].want, (size_t)n * sizeof(uint16_t)) == 0);
			CHECK(codec_decode(&p, r, sc[i].dec, &v) == CODEC_OK);
			/* within half a raw step */
			CHECK(fabs(v - sc[i].val) <=
			      0.5 * fabs(sc[i].scale) / pow(10, sc[i].dec) + 1e-9);
		}
	}
}

static void test_encode_reject(void)
{
	static const struct {
		enum yw_type type; double scale; int dec; double val; int want;
	} cases[] = {
		{ TYPE_INT16, 1, 0, 32767, CODEC_OK },
		{ TYPE_INT16, 1, 0, 32768, CODEC_BAD },
		{ TYPE_INT16, 1, 0, 32767.4, CODEC_OK },
		{ TYPE_INT16, 1, 0, 32767.5, CODEC_BAD },   /* rounds to 32768 */
		{ TYPE_INT16, 1, 0, -32768, CODEC_OK },
		{ TYPE_INT16, 1, 0, -32769, CODEC_BAD },
		{ TYPE_INT16, 0.1, 0, 3276.7, CODEC_OK },
		{ TYPE_INT16, 0.1, 0, 3276.8, CODEC_BAD },
		{ TYPE_INT16, 1, 2, 327.68, CODEC_BAD },
		{ TYPE_UINT16, 1, 0, 65535, CODEC_OK },
		{ TYPE_UINT16, 1, 0, 65536, CODEC_BAD },
		{ TYPE_UINT16, 1, 0, -1, CODEC_BAD },
		{ TYPE_UINT16, 1, 0, -0.4, CODEC_OK },      /* rounds to 0 */
		{ TYPE_UINT16, -1, 0, 1, CODEC_BAD },       /* raw -1 */
		{ TYPE_INT32, 1, 0, 2147483648.0, CODEC_BAD },
		{ TYPE_INT32, 1, 0, -2147483649.0, CODEC_BAD },
		{ TYPE_UINT32, 1, 0, 4294967296.0, CODEC_BAD },
		{ TYPE_UINT32, 1, 0, -1, CODEC_BAD },
		{ TYPE_INT64, 1, 0, 0x1p63, CODEC_BAD },
		{ TYPE_INT64, 1, 0, -0x1p63, CODEC_OK },
		{ TYPE_INT64, 1, 0, -0x1p64, CODEC_BAD },
		{ TYPE_UINT64, 1, 0, 0x1p64, CODEC_BAD },
		{ TYPE_UINT64, 1, 0, -1, CODEC_BAD },
		{ TYPE_FLOAT32, 1, 0, 1e39, CODEC_BAD },
		{ TYPE_FLOAT32, 1, 0, -1e39, CODEC_BAD },
		{ TYPE_FLOAT32, 1e-10, 0, 1e30, CODEC_BAD }, /* raw 1e40 */
		{ TYPE_FLOAT32, 1, 0, NAN, CODEC_BAD },
		{ TYPE_FLOAT32, 1, 0, INFINITY, CODEC_BAD },
		{ TYPE_FLOAT64, 1, 0, NAN, CODEC_BAD },
		{ TYPE_FLOAT64, 1, 0, -INFINITY, CODEC_BAD },
		{ TYPE_FLOAT64, 0.5, 0, DBL_MAX, CODEC_BAD }, /* raw overflows */
		{ TYPE_INT16, 0, 0, 1, CODEC_BAD },          /* scale 0: no inverse */
		{ TYPE_INT16, NAN, 0, 1, CODEC_BAD },
		{ TYPE_INT16, 1, 10, 1, CODEC_BAD },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t o = 0; o < 4; o++) {
			struct point_cfg p = mkpt(TABLE_HOLDING, cases[i].type, orders[o]);
			uint16_t r[4] = { 0xAAAA, 0xAAAA, 0xAAAA, 0xAAAA };
			int rc;

			p.scale = cases[i].scale;
			rc = codec_encode(&p, cases[i].val, cases[i].dec, r);
			CHECK(rc == cases[i].want);
			if (rc != cases[i].want)
				fprintf(stderr, "  reject case %zu order %s: rc %d\n", i,
					order_names[o], rc);
		}
	}
}

static void test_bool_encode(void)
{
	static const struct { enum yw_table t; double val; int want; uint16_t reg; } cases[] = {
		{ TABLE_COIL, 1, CODEC_OK, 1 },
		{ TABLE_COIL, 0, CODEC_OK, 0 },
		{ TABLE_COIL, -0.0, CODEC_OK, 0 },
		{ TABLE_COIL, 0.5, CODEC_BAD, 0 },
		{ TABLE_COIL, 2, CODEC_BAD, 0 },
		{ TABLE_COIL, -1, CODEC_BAD, 0 },
		{ TABLE_COIL, NAN, CODEC_BAD, 0 },
		{ TABLE_COIL, INFINITY, CODEC_BAD, 0 },
		{ TABLE_HOLDING, 1, CODEC_OK, 1 },
		{ TABLE_HOLDING, 0, CODEC_OK, 0 },
		{ TABLE_HOLDING, 0.999, CODEC_BAD, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct point_cfg p = mkpt(cases[i].t, TYPE_BOOL, ORDER_ABCD);
		uint16_t r = 0x5555;

		p.scale = 3;   /* ignored for bools */
		CHECK(codec_encode(&p, cases[i].val, 0, &r) == cases[i].want);
		if (cases[i].want == CODEC_OK)
			CHECK(r == cases[i].reg);
		else
			CHECK(r == 0x5555);
	}
}

static void test_bit_encode(void)
{
	static const struct { uint16_t before; int bit; double val; uint16_t after; } cases[] = {
		{ 0xA5A5, 1, 1, 0xA5A7 },
		{ 0xA5A5, 0, 0, 0xA5A4 },
		{ 0xA5A5, 0, 1, 0xA5A5 },
		{ 0xA5A5, 15, 0, 0x25A5 },
		{ 0x25A5, 15, 1, 0xA5A5 },
		{ 0x0000, 15, 1, 0x8000 },
		{ 0xFFFF, 7, 0, 0xFF7F },
		{ 0x0000, 8, 1, 0x0100 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t o = 0; o < 4; o++) {
			struct point_cfg p = mkpt(TABLE_HOLDING, TYPE_BOOL, orders[o]);
			uint16_t r = cases[i].before;
			double v = -1;

			p.bit = cases[i].bit;
			CHECK(codec_encode(&p, cases[i].val, 0, &r) == CODEC_OK);
			CHECK(r == cases[i].after);
			CHECK(codec_decode(&p, &r, 0, &v) == CODEC_OK && v == cases[i].val);
		}
	}
	{
		struct point_cfg p = mkpt(TABLE_HOLDING, TYPE_BOOL, ORDER_ABCD);
		uint16_t r = 0x1234;

		p.bit = 4;
		CHECK(codec_encode(&p, 2, 0, &r) == CODEC_BAD);
		CHECK(r == 0x1234);
	}
}

static void test_range(void)
{
	static const struct {
		enum yw_type type; double scale, offset; int dec; double lo, hi;
	} cases[] = {
		{ TYPE_INT16, 1, 0, 0, -32768, 32767 },
		{ TYPE_INT16, -1, 0, 0, -32767, 32768 },
		{ TYPE_INT16, 0.1, 10, 0, -3266.8, 3286.7 },
		{ TYPE_UINT16, 1, 0, 2, 0, 655.35 },
		{ TYPE_UINT16, -2, 100, 0, -130970, 100 },
		{ TYPE_INT32, 1, 0, 0, -2147483648.0, 2147483647.0 },
		{ TYPE_UINT32, 1, 0, 0, 0, 4294967295.0 },
		{ TYPE_INT64, 1, 0, 0, -0x1p63, 9223372036854774784.0 },
		{ TYPE_UINT64, 1, 0, 0, 0, 18446744073709549568.0 },
		/* FLT_MAX as decoded: its shortest text, 3.4028235e38 (> FLT_MAX) */
		{ TYPE_FLOAT32, 1, 0, 0, -3.4028235e38, 3.4028235e38 },
		{ TYPE_FLOAT32, -1, 0, 0, -3.4028235e38, 3.4028235e38 },
		{ TYPE_FLOAT64, 1, 0, 0, -DBL_MAX, DBL_MAX },
		{ TYPE_FLOAT64, 2, 0, 0, -DBL_MAX, DBL_MAX },
		{ TYPE_BOOL, 5, 5, 0, 0, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct point_cfg p = mkpt(TABLE_HOLDING, cases[i].type, ORDER_ABCD);
		uint16_t r[4];
		double lo = NAN, hi = NAN;

		p.scale = cases[i].scale;
		p.offset = cases[i].offset;
		codec_range(&p, cases[i].dec, &lo, &hi);
		CHECK(fabs(lo - cases[i].lo) <= 1e-9 * fmax(1.0, fabs(cases[i].lo)));
		CHECK(fabs(hi - cases[i].hi) <= 1e-9 * fmax(1.0, fabs(cases[i].hi)));
		/* the bounds themselves are writable */
		CHECK(codec_encode(&p, lo, cases[i].dec, r) == CODEC_OK);
		CHECK(codec_encode(&p, hi, cases[i].dec, r) == CODEC_OK);
	}
	{
		struct point_cfg p = mkpt(TABLE_HOLDING, TYPE_INT16, ORDER_ABCD);
		double lo, hi;

		codec_range(&p, 10, &lo, &hi);
		CHECK(lo > hi);
		p.scale = 0;
		codec_range(&p, 0, &lo, &hi);
		CHECK(lo > hi);
	}
}

int main(void)
{
	test_vectors();
	test_width();
	test_bits();
	test_scale();
	test_nonfinite();
	test_roundtrip();
	test_encode_reject();
	test_bool_encode();
	test_bit_encode();
	test_range();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
