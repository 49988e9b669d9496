#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t util_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *util_fmt_time(int64_t wall_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	int ms = (int)(wall_ms % 1000);
	struct tm tm;

	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	return buf;
}

static int parse_duration(const char *s, int64_t now_ms, int64_t *out)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	n = strtoll(s, &end, 10);
	if (end == s || end[0] == '\0' || end[1] != '\0' || n < 0 || n > 100LL * 365 * 86400)
		return -1;
	switch (*end) {
	case 's': break;
	case 'm': n *= 60; break;
	case 'h': n *= 3600; break;
	case 'd': n *= 86400; break;
	default: return -1;
	}
	*out = now_ms - n * 1000;
	return 0;
}

int util_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
	struct tm tm;
	int ms = 0, off_sign = 0, off_h = 0, off_m = 0, n = 0;
	const char *p;

	if (parse_duration(s, now_ms, out_ms) == 0)
		return 0;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
		return -1;
	p = s + n;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		n = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &n) != 2 || n != 5)
			return -1;
		p += 1 + n;
		if (*p == ':') {
			n = 0;
			if (sscanf(p + 1, "%2d%n", &tm.tm_sec, &n) != 1 || n != 2)
				return -1;
			p += 1 + n;
			if (*p == '.' || *p == ',') {
				int digits = 0;
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				while (isdigit((unsigned char)*p)) {
					if (digits < 3) {
						ms = ms * 10 + (*p - '0');
						digits++;
					}
					p++;
				}
				while (digits++ < 3)
					ms *= 10;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			off_sign = *p == '+' ? 1 : -1;
			n = 0;
			if (sscanf(p + 1, "%2d:%2d%n", &off_h, &off_m, &n) != 2 || n != 5)
				return -1;
			p += 1 + n;
		}
	}
	if (*p != '\0')
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || off_h > 23 || off_m > 59)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out_ms = ((int64_t)t - off_sign * (off_h * 3600 + off_m * 60)) * 1000 + ms;
	return 0;
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
