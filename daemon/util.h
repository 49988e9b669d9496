/*
 * util: clocks and time formats shared by the daemon and the command line.
 * Scheduling uses the monotonic clock; readings and events are stamped with
 * the wall clock, in milliseconds since the epoch.
 */
#ifndef YW_UTIL_H
#define YW_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t util_mono_ms(void);
int64_t util_wall_ms(void);

/* "2026-11-26T04:10:03.123Z" into BUF (at least 25 bytes). Returns BUF. */
char *util_fmt_time(int64_t wall_ms, char *buf, size_t len);

/* Parse an RFC 3339 / ISO-8601 time ("2026-11-26T04:10:03Z", with optional
 * fraction and offset, or a date "2026-11-26") or a duration back from NOW_MS
 * ("90s", "15m", "2h", "7d"). 0 on success, -1 when it is neither. */
int util_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* Sleep-free helpers for bounded text. */
size_t util_strlcpy(char *dst, const char *src, size_t size);

#endif

