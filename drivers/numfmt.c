/*
 * numfmt: shortest round-trip text of a double. See numfmt.h.
 *
 * The search looks for the fewest N such that "%.Ng" reads back (strtod)
 * as the same value. 17 significant digits always identify a double (9 a
 * float), and the C library's conversions are correctly rounded (glibc).
 * Reading back is monotonic in N: the N-digit decimals are among the
 * (N+1)-digit ones, so the nearest (N+1)-digit decimal is no farther from the
 * value than the nearest N-digit one. Hence a binary search: 4 or 5 snprintf
 * calls per value, about a microsecond, negligible next to a Modbus request.
 */
#include "numfmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does "%.Ng" of V read back as V (as a float when IS_FLOAT)? */
static bool numfmt_reads_back(double v, bool is_float, int n)
{
	char buf[NUMFMT_LEN];

	snprintf(buf, sizeof buf, "%.*g", n, v);
	if (is_float)
		return strtof(buf, NULL) == (float)v;
	return strtod(buf, NULL) == v;
}

/* The fewest N in 1..MAX for which V reads back; MAX always does. */
static int numfmt_search(double v, bool is_float, int max)
{
	int lo = 1, hi = max;

	if (!isfinite(v))
		return max;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (numfmt_reads_back(v, is_float, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int numfmt_digits(double v)
{
	return numfmt_search(v, false, 17);
}

int numfmt_digits_float(float f)
{
	return numfmt_search((double)f, true, 9);
}

double numfmt_float_value(float f)
{
	char buf[NUMFMT_LEN];

	if (!isfinite(f))
		return (double)f;
	snprintf(buf, sizeof buf, "%.*g", numfmt_digits_float(f), (double)f);
	return strtod(buf, NULL);
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
