/*
 * numfmt: the one way yardwatch prints a number (SPEC "MQTT": a value is
 * printed with the fewest digits that identify it). Pure, no state.
 *
 * numfmt_double prints the shortest text that reads back (strtod) as the
 * same double: 0.1 -> "0.1", 0.1 + 0.2 -> "0.30000000000000004". An
 * integral value with |v| < 1e21 is printed as an integer, without exponent
 * or ".0" (5 -> "5", -1234567890123456 -> "-1234567890123456", 2^64 ->
 * "18446744073709551616"); -0 prints as "0". Otherwise it is the shortest
 * "%.Ng" (N = 1..17) with the exponent's leading zeros dropped ("1e-7",
 * "1e+21"). The text is a JSON number; NaN and infinities (never a good
 * value) print as "nan", "inf", "-inf", which are not.
 */
#ifndef YW_NUMFMT_H
#define YW_NUMFMT_H

#include <stddef.h>

/* Enough for every text numfmt_double prints, NUL included. */
#define NUMFMT_LEN 32

/* V as text into BUF (LEN bytes, NUMFMT_LEN is always enough; a shorter
 * buffer gets a truncated text). Returns BUF. */
char *numfmt_double(double v, char *buf, size_t len);

/* The fewest significant digits (1..17) of a "%.Ng" text that reads back as
 * V. 17 for NaN and infinities. */
int numfmt_digits(double v);

/* The same for a float32 read back with strtof (1..9). */
int numfmt_digits_float(float f);

/* The nearest double to the shortest decimal that reads back as float32 F
 * (229.113616943359375f -> 229.1136): how a float32 register's value is
 * carried and printed. F itself when not finite. */
double numfmt_float_value(float f);

#endif
