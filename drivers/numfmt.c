/*
 * numfmt: shortest round-trip text of a double. See numfmt.h.
 *
 * The search tries "%.1g" .. "%.17g" and keeps the first that strtod reads
 * back as the same value: 17 significant digits always identify a double,
 * and the C library's conversions are correctly rounded (glibc), so the
 * first hit is the shortest decimal of that form. At most 17 snprintf calls
 * per value: a few microseconds, negligible next to a Modbus request.
 */
#include "numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int numfmt_digits(double v)
{
	char buf[NUMFMT_LEN];

	if (!isfinite(v))
		return 17;
	for (int n = 1; n < 17; n++) {
		snprintf(buf, sizeof buf, "%.*g", n, v);
		if (strtod(buf, NULL) == v)
			return n;
	}
	return 17;
}

int numfmt_digits_float(float f)
{
	char buf[NUMFMT_LEN];

	if (!isfinite(f))
		return 9;
	for (int n = 1; n < 9; n++) {
		snprintf(buf, sizeof buf, "%.*g", n, (double)f);
		if (strtof(buf, NULL) == f)
			return n;
	}
	return 9;
}

/* Drop the '+' and leading zeros of a "%g" exponent: "1e-07" -> "1e-7",
 * "1e+21" stays (JavaScript's spelling). */
static void numfmt_trim_exponent(char *s)
{
	char *e = strchr(s, 'e');
	char *d;

	if (!e)
		return;
	d = e + 1;
	if (*d == '+' || *d == '-')
		d++;
	if (*d != '0' || d[1] == '\0')
		return;
	memmove(d, d + strspn(d, "0"), strlen(d + strspn(d, "0")) + 1);
}

char *numfmt_double(double v, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (isnan(v)) {
		snprintf(buf, len, "nan");
	} else if (isinf(v)) {
		snprintf(buf, len, "%s", v < 0 ? "-inf" : "inf");
	} else if (v == 0.0) {
		snprintf(buf, len, "0");   /* -0 too */
	} else if (fabs(v) < 1e21 && v == trunc(v)) {
		snprintf(buf, len, "%.0f", v);
	} else {
		snprintf(buf, len, "%.*g", numfmt_digits(v), v);
		numfmt_trim_exponent(buf);
	}
	return buf;
}
