/*
 * test_fuzz_codec: what fuzz_codec (tests/fuzz/fuzz_codec.c) found in the
 * codec, one case per finding, with the input that showed it:
 *  - a decoded value above codec_range's top: uint16 x 0.1 / 10^2 - 40 at
 *    0xffff decodes to 25.535, the unrounded range stopped at
 *    25.534999999999997, so a write of the value the point shows was refused
 *    ("value out of range"; also the simulator's set);
 *  - codec_decode accepting an infinite value: a float64 register holding
 *    DBL_MAX with scale -1 (or -DBL_MAX with an offset) is finite after
 *    scaling but rounding it to 15 digits overflowed (-1.79769313486232e308
 *    is beyond the doubles) and gave -inf as a good value. The value is now
 *    kept as scaled (-DBL_MAX, the nearest double); a first fix that
 *    refused it made encode's output undecodable (the encode of -DBL_MAX
 *    with scale -1: fuzz_codec's second finding);
 *  - the same for float32: FLT_MAX decodes to 3.4028235e38 (its shortest
 *    text), above a range that stopped at FLT_MAX.
 * The range's ends are now decoded as codec_decode rounds them, and
 * rounding never makes a finite value infinite.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../drivers/codec.h"
#include "check.h"

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

/* The register image of double D, ABCD. */
static void f64_regs(double d, uint16_t r[4])
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	for (int i = 0; i < 4; i++)
		r[i] = (uint16_t)(u >> (48 - 16 * i));
}

/* Decoded value V of P (decimals DEC) is inside codec_range and writes back
 * to registers that decode to V again. */
static void check_writable(const struct point_cfg *p, int dec, double v)
{
	double lo, hi, v2;
	uint16_t r[4] = { 0 };

	codec_range(p, dec, &lo, &hi);
	CHECK(v >= lo && v <= hi);
	CHECK(codec_encode(p, v, dec, r) == CODEC_OK);
	CHECK(codec_decode(p, r, dec, &v2) == CODEC_OK && v2 == v);
}

/* fuzz_codec input 02 02 02 00 03 01 01 ff ff: input table, uint16, BADC,
 * no bit, decimals 2, scale 0.1, offset -40, register 0xffff */
static void test_range_holds_rounded_top(void)
{
	struct point_cfg p = mkpt(TABLE_INPUT, TYPE_UINT16, ORDER_BADC);
	uint16_t r[1] = { 0xffff };
	double v;

	check_case = "uint16 x 0.1 / 10^2 - 40";
	p.scale = 0.1;
	p.offset = -40;
	CHECK(codec_decode(&p, r, 2, &v) == CODEC_OK && v == 25.535);
	check_writable(&p, 2, v);
	r[0] = 0;
	CHECK(codec_decode(&p, r, 2, &v) == CODEC_OK && v == -40);
	check_writable(&p, 2, v);

	check_case = "int16 x 0.1 + 10, the low end";
	p = mkpt(TABLE_HOLDING, TYPE_INT16, ORDER_ABCD);
	p.scale = 0.1;
	p.offset = 10;
	r[0] = 0x8000;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == -3266.8);
	check_writable(&p, 0, v);
	check_case = "";
}

static void test_rounding_near_dbl_max(void)
{
	struct point_cfg p = mkpt(TABLE_INPUT, TYPE_FLOAT64, ORDER_ABCD);
	uint16_t r[4];
	double v = 0;

	check_case = "float64 DBL_MAX x -1";
	f64_regs(DBL_MAX, r);
	p.scale = -1;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == -DBL_MAX);
	check_writable(&p, 0, v);
	check_case = "float64 encode -DBL_MAX x -1";
	CHECK(codec_encode(&p, -DBL_MAX, 0, r) == CODEC_OK);
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == -DBL_MAX);
	check_case = "float64 -DBL_MAX + 0.5";
	f64_regs(-DBL_MAX, r);
	p.scale = 1;
	p.offset = 0.5;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == -DBL_MAX);
	check_writable(&p, 0, v);
	check_case = "float64 DBL_MAX unscaled: as read";
	f64_regs(DBL_MAX, r);
	p.offset = 0;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == DBL_MAX);
	check_writable(&p, 0, v);
	check_case = "float64 DBL_MAX x 2: overflows";
	p.scale = 2;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_BAD);
	check_case = "float64 1e300 x -1: rounded, finite";
	f64_regs(1e300, r);
	p.scale = -1;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == -1e300);
	check_writable(&p, 0, v);
	check_case = "";
}

static void test_float32_max_in_range(void)
{
	struct point_cfg p = mkpt(TABLE_HOLDING, TYPE_FLOAT32, ORDER_ABCD);
	uint16_t r[2] = { 0x7f7f, 0xffff };   /* FLT_MAX */
	double v;

	check_case = "float32 FLT_MAX";
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == 3.4028235e38);
	check_writable(&p, 0, v);
	r[0] = 0xff7f;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK && v == -3.4028235e38);
	check_writable(&p, 0, v);
	check_case = "float32 FLT_MAX + 0.5";
	p.offset = 0.5;
	r[0] = 0x7f7f;
	CHECK(codec_decode(&p, r, 0, &v) == CODEC_OK);
	check_writable(&p, 0, v);
	check_case = "";
}

int main(void)
{
	test_range_holds_rounded_top();
	test_rounding_near_dbl_max();
	test_float32_max_in_range();
	return check_report();
}
