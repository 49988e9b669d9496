/*
 * fuzz_codec: libFuzzer target of the Modbus answer path after mbpdu: the
 * registers of an answer turned into a value (drivers/codec.c), the value
 * printed (drivers/numfmt.c), and a write encoded back into registers.
 *
 * Input: 7 bytes of point definition (table, type, order, bit, decimals,
 * scale and offset selectors; a selector >= 0x80 takes the next 8 bytes as
 * a raw double, else one of the usual meter scales/offsets), 4 registers,
 * then 8 bytes of a value to encode. Missing bytes read as 0.
 *
 * Checked, whatever the bytes (besides ASan/UBSan):
 *  - codec_width is 1, 2 or 4 (1 for bool) and nothing reads or writes past
 *    that many registers (the registers are a heap block of exactly that size;
 *    encode's output has guard words after it);
 *  - a decoded value is finite, never -0, 0/1 for bool; decimals outside 0..9
 *    are refused;
 *  - numfmt_double of any finite double is a JSON number that reads back
 *    (strtod) as the same double, shorter than NUMFMT_LEN; a short buffer
 *    stays NUL-terminated and nothing is written past it;
 *  - codec_range is empty (exactly when decimals, scale or offset cannot be
 *    inverted: scale 0 still decodes) or a finite LO <= HI holding every
 *    decoded value (but 64-bit integers beyond 2^53, which are only the
 *    nearest double);
 *  - unscaled (scale 1, offset 0, decimals 0): encode of a decoded value
 *    succeeds and decodes to the same value (for integers: the same
 *    registers), except 64-bit integers beyond 2^53, which a double does not
 *    hold exactly and encode may refuse; bool points round-trip too;
 *  - encode of any value either refuses or gives registers that decode
 *    (but where |value - offset| x 10^decimals is near DBL_MAX: decode may
 *    then overflow and refuse), and a `bit` point's write changes only its
 *    bit.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/codec.h"
#include "../../drivers/numfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the input was, printed when a check fails. */
static struct {
	const struct point_cfg *p;
	int dec;
	uint16_t in[4];
	double v, lo, hi, x;
} seen;

#define FAIL(what) fail(what, __LINE__)

static void fail(const char *what, int line)
{
	const struct point_cfg *p = seen.p;

	fprintf(stderr, "fuzz_codec.c:%d: %s\n", line, what);
	if (p)
		fprintf(stderr, "  point: table %s type %s order %s bit %d scale %.17g offset %.17g"
			" decimals %d\n  regs %04x %04x %04x %04x; decoded %.17g; range %.17g..%.17g;"
			" value to encode %.17g\n", point_table_name(p->table),
			point_type_name(p->type), point_order_name(p->order), p->bit, p->scale,
			p->offset, seen.dec, seen.in[0], seen.in[1], seen.in[2], seen.in[3], seen.v,
			seen.lo, seen.hi, seen.x);
	abort();
}

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t rd_u8(struct rd *r)
{
	uint8_t b = 0;

	if (r->n) {
		b = *r->p++;
		r->n--;
	}
	return b;
}

static double rd_double(struct rd *r)
{
	uint8_t b[8];
	double d;

	for (int i = 0; i < 8; i++)
		b[i] = rd_u8(r);
	memcpy(&d, b, sizeof d);
	return d;
}

static const double scales[] = {
	1, 0.1, 0.01, 0.001, 0.0001, 10, 100, 1000, 0.5, 0.25, 2, -1, -0.1, 1.5e-6, 3, 0.3
};
static const double offsets[] = { 0, -40, 273.15, 0.5, -0.1, 100, -32768, 1e6 };

/* A selector byte: one of TABLE (N entries), or the next 8 bytes. */
static double rd_choice(struct rd *r, const double *table, size_t n)
{
	uint8_t sel = rd_u8(r);

	if (sel >= 0x80)
		return rd_double(r);
	return table[sel % n];
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */
static int is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (isdigit((unsigned char)*s))
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return 0;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return 0;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

static void check_numfmt(double v)
{
	char buf[NUMFMT_LEN], small[NUMFMT_LEN];
	int d = numfmt_digits(v);

	if (d < 1 || d > 17)
		FAIL("numfmt_digits outside 1..17");
	numfmt_double(v, buf, sizeof buf);
	if (strlen(buf) >= NUMFMT_LEN - 1)
		FAIL("numfmt text too long");   /* NUMFMT_LEN must leave room: a text that fills it may be cut */
	if (isfinite(v)) {
		if (!is_json_number(buf) || strtod(buf, NULL) != v)
			FAIL("numfmt text not a JSON number reading back as the value");
	} else if (strcmp(buf, isnan(v) ? "nan" : v < 0 ? "-inf" : "inf") != 0) {
		FAIL("numfmt text of nan/inf");
	}
	/* a short buffer: truncated, NUL-terminated, nothing written past it (not
	 * always a prefix of the full text: the exponent is trimmed after
	 * truncation, "1e-07" -> "1e-0" in 5 bytes) */
	for (size_t len = 1; len < 6; len++) {
		memset(small, 'x', sizeof small);
		numfmt_double(v, small, len);
		if (memchr(small, '\0', len) == NULL || small[len] != 'x')
			FAIL("short buffer not terminated or overrun");
	}
	float f = (float)v;
	if (isfinite(f)) {
		int df = numfmt_digits_float(f);

		if (df < 1 || df > 9 || (float)numfmt_float_value(f) != f)
			FAIL("float32 shortest text does not read back");
	}
}

static bool is_int_type(enum yw_type t)
{
	return t != TYPE_BOOL && t != TYPE_FLOAT32 && t != TYPE_FLOAT64;
}

static bool is_bool_point(const struct point_cfg *p)
{
	return p->table == TABLE_COIL || p->table == TABLE_DISCRETE || p->bit >= 0 ||
	       p->type == TYPE_BOOL;
}

/* Registers of width W decoded with decimals DEC; the checks of a value. */
static int decode_checked(const struct point_cfg *p, const uint16_t *regs, int dec, double *v)
{
	int rc = codec_decode(p, regs, dec, v);

	if (rc != CODEC_OK && rc != CODEC_BAD)
		FAIL("codec_decode returned neither OK nor BAD");
	if ((dec < 0 || dec > 9) && rc == CODEC_OK)
		FAIL("decimals outside 0..9 accepted");
	if (rc != CODEC_OK)
		return rc;
	if (!isfinite(*v) || (*v == 0 && signbit(*v)))
		FAIL("decoded value not finite, or -0");
	if (is_bool_point(p) && *v != 0 && *v != 1)
		FAIL("bool decoded as neither 0 nor 1");
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	struct point_cfg p;
	uint16_t in[4], out[4 + 2];
	double raw, v, v2, lo, hi, x;
	int w, dec, rc;

	memset(&p, 0, sizeof p);
	p.table = (enum yw_table)(rd_u8(&r) % POINT_NTABLES);
	p.type = (enum yw_type)(rd_u8(&r) % POINT_NTYPES);
	p.order = (enum yw_order)(rd_u8(&r) % POINT_NORDERS);
	p.bit = rd_u8(&r) % 17 - 1;                 /* -1: none, 0..15 */
	dec = rd_u8(&r) % 12 - 1;                   /* -1..10: the bounds too */
	p.scale = rd_choice(&r, scales, sizeof scales / sizeof scales[0]);
	p.offset = rd_choice(&r, offsets, sizeof offsets / sizeof offsets[0]);
	p.decimals_from = -1;
	for (int i = 0; i < 4; i++)
		in[i] = (uint16_t)(rd_u8(&r) << 8 | rd_u8(&r));
	x = rd_double(&r);
	seen.p = &p;
	seen.dec = dec;
	memcpy(seen.in, in, sizeof in);
	seen.x = x;
	seen.v = seen.lo = seen.hi = NAN;

	w = codec_width(&p);
	if (w != 1 && w != 2 && w != 4)
		FAIL("codec_width not 1, 2 or 4");
	if (is_bool_point(&p) && w != 1)
		FAIL("bool point wider than 1 register");
	uint16_t *regs = malloc((size_t)w * sizeof *regs);   /* exactly W: ASan sees over-reads */
	if (!regs)
		return 0;
	memcpy(regs, in, (size_t)w * sizeof *regs);

	check_numfmt(x);

	/* decode; a 64-bit integer beyond 2^53 is only the nearest double (codec.h) */
	bool big = false;
	if (codec_decode_raw(&p, regs, &raw) == CODEC_OK) {
		big = (p.type == TYPE_INT64 || p.type == TYPE_UINT64) && !is_bool_point(&p) &&
		      fabs(raw) > 0x1p53;
		if (!isfinite(raw))
			FAIL("raw value not finite");
		if (is_int_type(p.type) && !is_bool_point(&p) && raw != trunc(raw))
			FAIL("raw integer not integral");
	}
	rc = decode_checked(&p, regs, dec, &v);
	codec_range(&p, dec, &lo, &hi);
	seen.v = rc == CODEC_OK ? v : NAN;
	seen.lo = lo;
	seen.hi = hi;
	bool empty_range = lo == INFINITY && hi == -INFINITY;
	if (empty_range) {
		bool empty = dec < 0 || dec > 9 ||
			     (!is_bool_point(&p) && (!isfinite(p.scale) || p.scale == 0 ||
						      !isfinite(p.offset)));
		if (!empty)
			FAIL("empty range for a point that can be written");
	} else if (!isfinite(lo) || !isfinite(hi) || !(lo <= hi)) {
		FAIL("range not finite or LO > HI");
	}
	if (rc == CODEC_OK) {
		check_numfmt(v);
		if (!big && !empty_range && !(v >= lo && v <= hi))
			FAIL("decoded value outside codec_range");
	}

	/* decode -> encode -> decode */
	bool unscaled = p.scale == 1 && p.offset == 0 && dec == 0;
	if (rc == CODEC_OK && (unscaled || is_bool_point(&p))) {
		memcpy(out, regs, (size_t)w * sizeof *out);
		if (codec_encode(&p, v, dec, out) != CODEC_OK) {
			if (!big)
				FAIL("encode refuses a decoded unscaled value");
		} else {
			if (decode_checked(&p, out, dec, &v2) != CODEC_OK || v2 != v)
				FAIL("decode(encode(decoded)) differs");
			if (is_int_type(p.type) && !is_bool_point(&p) && !big &&
			    memcmp(out, regs, (size_t)w * sizeof *out) != 0)
				FAIL("encode(decode(regs)) differs from regs");
			if (p.bit >= 0 && !(p.table == TABLE_COIL || p.table == TABLE_DISCRETE) &&
			    out[0] != regs[0])
				FAIL("bit point's register changed by writing its own value");
		}
	}

	/* encode of any value */
	memcpy(out, regs, (size_t)w * sizeof *out);
	for (int i = w; i < 6; i++)
		out[i] = 0xa5a5;
	if (codec_encode(&p, x, dec, out) == CODEC_OK) {
		for (int i = w; i < 6; i++)
			if (out[i] != 0xa5a5)
				FAIL("encode wrote past the point's registers");
		if (!isfinite(x) || dec < 0 || dec > 9)
			FAIL("encode accepted a non-finite value or bad decimals");
		if (p.bit >= 0 && !(p.table == TABLE_COIL || p.table == TABLE_DISCRETE) &&
		    ((out[0] ^ regs[0]) & ~(1u << p.bit)) != 0)
			FAIL("encode of a bit point changed another bit");
		/* At the edge of the doubles (|value - offset| x 10^decimals near
		 * DBL_MAX, e.g. offset -DBL_MAX with scale -8e306) decode's product
		 * can round up to inf where encode's quotient did not: such a
		 * scale is no meter's, and the value is refused as BAD, not taken. */
		bool edge = !(fabs(x - p.offset) * pow(10, dec) < 0x1p1020);
		if (decode_checked(&p, out, dec, &v2) != CODEC_OK && !edge)
			FAIL("encoded registers do not decode");
	}
	free(regs);
	return 0;
}
