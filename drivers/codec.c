/*
 * codec: registers <-> engineering values. See codec.h for the rules.
 *
 * A value of N registers is handled as an unsigned integer of 16*N bits whose
 * words are numbered most significant first. The order decides which
 * register holds which word (CDAB/DCBA: the first register holds the least
 * significant word) and whether the two bytes of a register are swapped
 * (BADC/DCBA: low byte first). Floats are then reinterpreted from that
 * integer with memcpy; IEEE 754 binary32/binary64 is required.
 */
#include "codec.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE 754 floats required");
_Static_assert(FLT_MANT_DIG == 24 && DBL_MANT_DIG == 53, "IEEE 754 floats required");

static const double codec_pow10[10] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9
};

/* Largest doubles below 2^63 and 2^64: the top of the 64-bit ranges that a
 * double can express exactly. */
#define CODEC_I64_HI (0x1p63 - 1024.0)
#define CODEC_U64_HI (0x1p64 - 2048.0)

/* A float64 carries at most 15 significant digits that are not noise. */
#define CODEC_F64_SIG 15
/* "%.*f" of a value below 10^-decimals: "-0." and at most ~340 digits. */
#define CODEC_ROUND_LEN 400
/* Doubles below this magnitude round to a finite float32 (FLT_MAX and half
 * a unit in its last place). */
#define CODEC_F32_LIMIT 0x1.ffffffp+127

static bool codec_is_bool(const struct point_cfg *p)
{
	return p->table == TABLE_COIL || p->table == TABLE_DISCRETE ||
	       p->bit >= 0 || p->type == TYPE_BOOL;
}

static bool codec_word_swap(enum yw_order o)
{
	return o == ORDER_CDAB || o == ORDER_DCBA;
}

static bool codec_byte_swap(enum yw_order o)
{
	return o == ORDER_BADC || o == ORDER_DCBA;
}

static uint16_t codec_swap16(uint16_t w)
{
	return (uint16_t)(((unsigned)w >> 8) | (((unsigned)w & 0xffu) << 8));
}

static uint64_t codec_assemble(const uint16_t *regs, int n, enum yw_order o)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++) {
		uint16_t w = regs[codec_word_swap(o) ? n - 1 - i : i];

		if (codec_byte_swap(o))
			w = codec_swap16(w);
		v = (v << 16) | w;
	}
	return v;
}

static void codec_disassemble(uint64_t v, int n, enum yw_order o, uint16_t *regs)
{
	for (int i = n - 1; i >= 0; i--) {
		uint16_t w = (uint16_t)(v & 0xffffu);

		v >>= 16;
		if (codec_byte_swap(o))
			w = codec_swap16(w);
		regs[codec_word_swap(o) ? n - 1 - i : i] = w;
	}
}

int codec_width(const struct point_cfg *p)
{
	if (codec_is_bool(p))
		return 1;
	switch (p->type) {
	case TYPE_INT32:
	case TYPE_UINT32:
	case TYPE_FLOAT32:
		return 2;
	case TYPE_INT64:
	case TYPE_UINT64:
	case TYPE_FLOAT64:
		return 4;
	default:
		return 1;
	}
}

/* Raw range of an integer type, as doubles that convert back exactly. */
static void codec_int_range(enum yw_type t, double *lo, double *hi)
{
	switch (t) {
	case TYPE_INT16:  *lo = -32768.0; *hi = 32767.0; break;
	case TYPE_UINT16: *lo = 0.0; *hi = 65535.0; break;
	case TYPE_INT32:  *lo = -2147483648.0; *hi = 2147483647.0; break;
	case TYPE_UINT32: *lo = 0.0; *hi = 4294967295.0; break;
	case TYPE_INT64:  *lo = -0x1p63; *hi = CODEC_I64_HI; break;
	case TYPE_UINT64: *lo = 0.0; *hi = CODEC_U64_HI; break;
	default:          *lo = 0.0; *hi = 1.0; break;
	}
}

static bool codec_is_signed(enum yw_type t)
{
	return t == TYPE_INT16 || t == TYPE_INT32 || t == TYPE_INT64;
}

static int codec_bool_raw(const struct point_cfg *p, const uint16_t *regs, double *raw)
{
	if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE || p->bit < 0) {
		*raw = regs[0] != 0 ? 1.0 : 0.0;
		return CODEC_OK;
	}
	if (p->bit > 15)
		return CODEC_BAD;
	*raw = (double)(((unsigned)regs[0] >> p->bit) & 1u);
	return CODEC_OK;
}

int codec_decode_raw(const struct point_cfg *p, const uint16_t *regs, double *raw)
{
	int n = codec_width(p);
	uint64_t v;
	int bits = 16 * n;

	if (codec_is_bool(p))
		return codec_bool_raw(p, regs, raw);
	v = codec_assemble(regs, n, p->order);
	switch (p->type) {
	case TYPE_FLOAT32: {
		uint32_t u = (uint32_t)v;
		float f;

		memcpy(&f, &u, sizeof(f));
		if (!isfinite(f))
			return CODEC_BAD;
		*raw = (double)f;
		return CODEC_OK;
	}
	case TYPE_FLOAT64: {
		double d;

		memcpy(&d, &v, sizeof(d));
		if (!isfinite(d))
			return CODEC_BAD;
		*raw = d;
		return CODEC_OK;
	}
	default:
		break;
	}
	if (codec_is_signed(p->type) && (v >> (bits - 1)) != 0) {
		/* Two's complement: the magnitude is 2^bits - v, in unsigned
		 * arithmetic (2^63 for the most negative int64). */
		uint64_t mask = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1u;

		*raw = -(double)((0u - v) & mask);
		return CODEC_OK;
	}
	*raw = (double)v;
	return CODEC_OK;
}

/* Decimal exponent of V (non-zero, finite): V = d.ddd x 10^e. */
static int codec_exp10(double v)
{
	char buf[NUMFMT_LEN];

	snprintf(buf, sizeof buf, "%.16e", v);
	return atoi(strchr(buf, 'e') + 1);
}

/* Digits after the point in the shortest text of V, counting at most MAXSIG
 * significant digits (0.001 -> 3, 0.25 -> 2, 1 and 100 -> 0, 1.5e-20 -> 21,
 * 0.30000000000000004 -> 15 with MAXSIG 15). */
static int codec_decimals_of(double v, int maxsig)
{
	int n, d;

	if (v == 0.0 || !isfinite(v))
		return 0;
	n = numfmt_digits(v);
	if (n > maxsig)
		n = maxsig;
	d = n - 1 - codec_exp10(v);
	return d > 0 ? d : 0;
}

/* V rounded to DECIMALS digits after the point, and to at most MAXSIG
 * significant digits: the nearest double to that decimal. -0 becomes 0.
 * Near DBL_MAX that decimal can be beyond the doubles (DBL_MAX to 15 digits
 * is 1.79769313486232e308): V itself is then the nearest. */
static double codec_round(double v, int decimals, int maxsig)
{
	char buf[CODEC_ROUND_LEN];
	double r;
	int sig;

	if (v == 0.0)
		return 0.0;
	sig = codec_exp10(v) + 1 + decimals;
	if (sig > maxsig)
		sig = maxsig;
	if (sig >= 17)
		return v;   /* 17 digits identify a double: nothing to round */
	if (sig < 1)    /* |v| < 10^-decimals: 0 or +-10^-decimals */
		snprintf(buf, sizeof buf, "%.*f", decimals, v);
	else
		snprintf(buf, sizeof buf, "%.*e", sig - 1, v);
	r = strtod(buf, NULL);
	return isfinite(r) ? r + 0.0 : v;
}

/* The raw value as a person reads it, and the decimals and significant
 * digits it carries (see codec.h). */
static int codec_raw_text(const struct point_cfg *p, const uint16_t *regs, double *raw,
			  int *rawdec, int *maxsig)
{
	if (codec_decode_raw(p, regs, raw) != CODEC_OK)
		return CODEC_BAD;
	*rawdec = 0;
	*maxsig = 17;
	if (p->type == TYPE_FLOAT32) {
		char buf[NUMFMT_LEN];
		float f = (float)*raw;   /* exact: the raw value is a float32 */

		snprintf(buf, sizeof buf, "%.*g", numfmt_digits_float(f), (double)f);
		*raw = strtod(buf, NULL);
		*maxsig = FLT_DECIMAL_DIG;
		*rawdec = codec_decimals_of(*raw, *maxsig);
	} else if (p->type == TYPE_FLOAT64) {
		*maxsig = CODEC_F64_SIG;
		*rawdec = codec_decimals_of(*raw, *maxsig);
	}
	return CODEC_OK;
}

/* RAW (carrying RAWDEC decimals and MAXSIG significant digits) scaled and
 * rounded as codec_decode gives it. CODEC_BAD when scaling overflows. */
static int codec_scale(const struct point_cfg *p, double raw, int rawdec, int maxsig,
		       int decimals, double *value)
{
	double v;
	int dec, offdec;

	if (p->scale == 1.0 && p->offset == 0.0 && decimals == 0) {
		*value = raw + 0.0;
		return CODEC_OK;
	}
	v = raw * p->scale / codec_pow10[decimals] + p->offset;
	if (!isfinite(v))
		return CODEC_BAD;
	dec = rawdec + codec_decimals_of(p->scale, CODEC_F64_SIG) + decimals;
	offdec = codec_decimals_of(p->offset, CODEC_F64_SIG);
	*value = codec_round(v, dec > offdec ? dec : offdec, maxsig);
	return CODEC_OK;
}

int codec_decode(const struct point_cfg *p, const uint16_t *regs, int decimals,
		 double *value)
{
	double raw;
	int rawdec, maxsig;

	if (decimals < 0 || decimals > 9)
		return CODEC_BAD;
	if (codec_is_bool(p))
		return codec_decode_raw(p, regs, value);
	if (codec_raw_text(p, regs, &raw, &rawdec, &maxsig) != CODEC_OK)
		return CODEC_BAD;
	return codec_scale(p, raw, rawdec, maxsig, decimals, value);
}

double codec_decode_bit(uint8_t bit)
{
	return bit != 0 ? 1.0 : 0.0;
}

static int codec_encode_bool(const struct point_cfg *p, double value, uint16_t *regs)
{
	uint16_t b;

	if (value != 0.0 && value != 1.0)
		return CODEC_BAD;
	b = value == 1.0 ? 1 : 0;
	if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE || p->bit < 0) {
		regs[0] = b;
		return CODEC_OK;
	}
	if (p->bit > 15)
		return CODEC_BAD;
	regs[0] = (uint16_t)(((unsigned)regs[0] & ~(1u << p->bit)) | ((unsigned)b << p->bit));
	return CODEC_OK;
}

/* Nearest integer of RAW as the two's complement pattern of the type. */
static int codec_encode_int(enum yw_type t, int bits, double raw, uint64_t *v)
{
	double lo, hi;
	uint64_t mask = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1u;

	codec_int_range(t, &lo, &hi);
	raw = round(raw);
	if (raw < lo || raw > hi)
		return CODEC_BAD;
	if (raw < 0)
		*v = (0u - (uint64_t)(-raw)) & mask;
	else
		*v = (uint64_t)raw;
	return CODEC_OK;
}

int codec_encode(const struct point_cfg *p, double value, int decimals, uint16_t *regs)
{
	int n = codec_width(p);
	double raw;
	uint64_t v;

	if (decimals < 0 || decimals > 9 || !isfinite(value))
		return CODEC_BAD;
	if (codec_is_bool(p))
		return codec_encode_bool(p, value, regs);
	if (!isfinite(p->scale) || p->scale == 0.0 || !isfinite(p->offset))
		return CODEC_BAD;
	raw = (value - p->offset) * codec_pow10[decimals] / p->scale;
	if (!isfinite(raw))
		return CODEC_BAD;
	switch (p->type) {
	case TYPE_FLOAT32: {
		float f;
		uint32_t u;

		if (fabs(raw) >= CODEC_F32_LIMIT)
			return CODEC_BAD;
		f = (float)raw;
		memcpy(&u, &f, sizeof(u));
		v = u;
		break;
	}
	case TYPE_FLOAT64:
		memcpy(&v, &raw, sizeof(v));
		break;
	default:
		if (codec_encode_int(p->type, 16 * n, raw, &v) != CODEC_OK)
			return CODEC_BAD;
		break;
	}
	codec_disassemble(v, n, p->order, regs);
	return CODEC_OK;
}

void codec_range(const struct point_cfg *p, int decimals, double *lo, double *hi)
{
	double rlo, rhi, a, b;
	int maxsig;

	if (decimals < 0 || decimals > 9) {
		*lo = INFINITY;
		*hi = -INFINITY;
		return;
	}
	if (codec_is_bool(p)) {
		*lo = 0.0;
		*hi = 1.0;
		return;
	}
	if (!isfinite(p->scale) || p->scale == 0.0 || !isfinite(p->offset)) {
		*lo = INFINITY;
		*hi = -INFINITY;
		return;
	}
	if (p->type == TYPE_FLOAT32) {
		/* FLT_MAX as codec_decode carries it: 3.40282347e+38 */
		rhi = numfmt_float_value(FLT_MAX);
		rlo = -rhi;
		maxsig = FLT_DECIMAL_DIG;
	} else if (p->type == TYPE_FLOAT64) {
		rlo = -DBL_MAX;
		rhi = DBL_MAX;
		maxsig = CODEC_F64_SIG;
	} else {
		codec_int_range(p->type, &rlo, &rhi);
		maxsig = 17;
	}
	/* The extremes decoded as codec_decode rounds them, so that every value
	 * it gives is inside (uint16 x 0.1 / 10^2 - 40 tops at 25.535, where the
	 * unrounded 25.534999999999997 would refuse writing it back); where
	 * that is not finite, the unrounded extreme (clamped below). */
	if (codec_scale(p, rlo, 0, maxsig, decimals, &a) != CODEC_OK)
		a = rlo * p->scale / codec_pow10[decimals] + p->offset;
	if (codec_scale(p, rhi, 0, maxsig, decimals, &b) != CODEC_OK)
		b = rhi * p->scale / codec_pow10[decimals] + p->offset;
	*lo = fmax(fmin(a, b), -DBL_MAX);
	*hi = fmin(fmax(a, b), DBL_MAX);
}
