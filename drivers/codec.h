/*
 * codec: converts between Modbus registers/bits and a point's engineering
 * value, for every type, word order, bit, scale and offset of the SPEC.
 * Pure functions, no state, no I/O. Multi-register values are assembled
 * with explicit byte order and memcpy, never by type punning.
 *
 * Values travel as double. 64-bit integers beyond 2^53 lose precision; no
 * meter counter reaches that.
 */
#ifndef YW_CODEC_H
#define YW_CODEC_H

#include <stdint.h>
#include "../daemon/config.h"

enum codec_status { CODEC_OK = 0, CODEC_BAD = -1 };

/* Registers (or bits, for coil/discrete) a point occupies: 1, 2 or 4. */
int codec_width(const struct point_cfg *p);

/* Raw value of a register point (before scale/offset) from REGS, which holds
 * the point's codec_width() registers starting at its address. CODEC_BAD for
 * NaN/Inf from a float register. */
int codec_decode_raw(const struct point_cfg *p, const uint16_t *regs, double *raw);

/* Engineering value of a register point: raw * scale / 10^decimals + offset.
 * DECIMALS is the value of the point's decimals_from point (0 when none);
 * CODEC_BAD for NaN/Inf or a decimals value outside 0..9. */
int codec_decode(const struct point_cfg *p, const uint16_t *regs, int decimals,
		 double *value);

/* Value of a coil/discrete point from a bit (0/1). */
double codec_decode_bit(uint8_t bit);

/* Encode engineering VALUE for a write: inverse of codec_decode. Fills
 * codec_width(p) registers. CODEC_BAD when the value is not finite, outside
 * the type's range after scaling, not an integer for an integer type, or
 * not 0/1 for a bool. For a `bit` point, REGS must hold the register's current
 * value on entry; only that bit is changed. */
int codec_encode(const struct point_cfg *p, double value, int decimals, uint16_t *regs);

/* The engineering range the type can hold (after scale/offset): the default
 * bounds of a write. */
void codec_range(const struct point_cfg *p, int decimals, double *lo, double *hi);

#endif
