/*
 * codec: converts between Modbus registers/bits and a point's engineering
 * value, for every type, word order, bit, scale and offset of the SPEC.
 * Pure functions, no state, no I/O. Multi-register values are assembled
 * with explicit byte order and memcpy, never by type punning.
 *
 * Values travel as double, and codec_decode returns the value a person
 * would write (SPEC "MQTT": a value is printed with the fewest digits that
 * identify it at the precision it was read with; numfmt prints it):
 * - integer types: raw * scale / 10^d + offset rounded to the decimals that
 *   the scale, d and the offset carry: max(decimals(scale) + d,
 *   decimals(offset)), where decimals(x) counts the digits after the point
 *   of x's shortest round-trip text, of at most 15 significant digits
 *   (0.001 -> 3, 0.1 -> 1, 0.25 -> 2, 1 -> 0, 1.5e-6 -> 7;
 *   0.30000000000000004 -> 15: digits past the 15th are noise). The result
 *   is the nearest double to that decimal: raw 350 x 0.001 is 0.35, not
 *   0.35000000000000003. Exact as long as the decimal has at most 15
 *   significant digits, which covers every meter register.
 *   Unscaled (scale 1, offset 0, d 0) the value is the raw integer itself.
 * - 64-bit integers: a double holds every integer up to 2^53
 *   (9007199254740992) exactly, so int64 -1234567890123456 is exact; beyond
 *   2^53 the value is the nearest double (uint64 18446744073709551615 is
 *   18446744073709551616, printed so). No meter counter reaches 2^53.
 * - float32: the nearest double to the shortest decimal that reads back as
 *   the same float32 (0x43651D2B is 229.1136, not 229.113616943359375);
 *   scaled, the result rounded as above with the float's shortest text's
 *   decimals in place of the raw integer's 0, and to at most 9 significant
 *   digits (FLT_DECIMAL_DIG; float 3 x 0.5 is 1.5, 229.1136 x 0.001 is
 *   0.2291136). codec_encode of such a value gives back the same float32.
 * - float64: as read; scaled, rounded as float32, to at most 15 significant
 *   digits.
 * - bool: 0 or 1.
 * Every decoded 0 is +0. codec_decode_raw gives the raw value unrounded.
 *
 * Rules where the SPEC is silent:
 * - The word-order rule is applied to every register type, N = 1 included:
 *   a 16-bit value with order BADC or DCBA is byte-swapped (ABCD and CDAB
 *   leave it as is).
 * - bool values are always 0 or 1: scale, offset and decimals do not apply
 *   to them (decimals must still be in 0..9). A bool on a register without
 *   `bit` is 1 when the register is non-zero. A `bit` point reads bit N of
 *   the register as received (order does not apply).
 * - For coil/discrete points REGS[0] holds the bit as 0/1 (as the driver
 *   delivers it), so codec_decode/codec_encode work for every point.
 * - A scale of 0 (or a non-finite scale/offset) cannot be inverted: encode
 *   refuses and codec_range returns an empty range.
 */
#ifndef YW_CODEC_H
#define YW_CODEC_H

#include <stdint.h>
#include "point.h"

enum codec_status { CODEC_OK = 0, CODEC_BAD = -1 };

/* Registers (or bits, for coil/discrete) a point occupies: 1, 2 or 4. */
int codec_width(const struct point_cfg *p);

/* Raw value of a register point (before scale/offset) from REGS, which holds
 * the point's codec_width() registers starting at its address. CODEC_BAD for
 * NaN/Inf from a float register. */
int codec_decode_raw(const struct point_cfg *p, const uint16_t *regs, double *raw);

/* Engineering value of a register point: raw * scale / 10^decimals + offset,
 * as a person would write it (rounded as above). DECIMALS is the value of
 * the point's decimals_from point (0 when none); CODEC_BAD for NaN/Inf (also
 * when scaling overflows) or a decimals value outside 0..9. */
int codec_decode(const struct point_cfg *p, const uint16_t *regs, int decimals,
		 double *value);

/* Value of a coil/discrete point from a bit (0/1). */
double codec_decode_bit(uint8_t bit);

/* Encode engineering VALUE for a write: inverse of codec_decode. Fills
 * codec_width(p) registers. Integer types take the nearest integer of
 * (value - offset) * 10^decimals / scale. CODEC_BAD when the value is not
 * finite, outside the type's range after scaling and rounding, not 0/1 for a
 * bool, or decimals is outside 0..9. For a `bit` point, REGS must hold the
 * register's current value on entry; only that bit is changed. */
int codec_encode(const struct point_cfg *p, double value, int decimals, uint16_t *regs);

/* The engineering range the type can hold (after scale/offset; LO <= HI also
 * for a negative scale): the default bounds of a write. For float64 the
 * bounds are clamped to +-DBL_MAX. Empty (LO = +inf, HI = -inf) when nothing
 * can be written: decimals outside 0..9, scale 0 or not finite. */
void codec_range(const struct point_cfg *p, int decimals, double *lo, double *hi);

#endif
