/*
 * codec: converts between Modbus registers/bits and a point's engineering
 * value, for every type, word order, bit, scale and offset of the SPEC.
 * Pure functions, no state, no I/O. Multi-register values are assembled
 * with explicit byte order and memcpy, never by type punning.
 *
 * Values travel as double. 64-bit integers beyond 2^53 lose precision; no
 * meter counter reaches that.
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

/* Engineering value of a register point: raw * scale / 10^decimals + offset.
 * DECIMALS is the value of the point's decimals_from point (0 when none);
 * CODEC_BAD for NaN/Inf (also when scaling overflows) or a decimals value
 * outside 0..9. */
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
