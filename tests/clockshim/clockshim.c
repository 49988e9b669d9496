/*
 * clockshim: an LD_PRELOAD library for the tests that shifts CLOCK_REALTIME
 * (and gettimeofday(), time()) of one process by an offset in milliseconds
 * read from the file named by YW_CLOCK_FILE. The file is read again at most
 * every 20 ms of monotonic time, so a test steps the clock of a running
 * daemon by rewriting the file. Monotonic clocks are left alone (libfaketime
 * 0.9.10 shifts them too and breaks monotonic condition variables).
 *
 *   YW_CLOCK_FILE=/tmp/x LD_PRELOAD=build/tests/libywclockshim.so yardwatchd ...
 *   echo -3600000 > /tmp/x     # the daemon's wall clock goes back one hour
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime(void)
{
	static _Atomic(clock_gettime_fn) fn;
	clock_gettime_fn f = atomic_load(&fn);
	if (!f) {
		f = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
		atomic_store(&fn, f);
	}
	return f;
}

static _Atomic int64_t offset_ms;
static _Atomic int64_t next_read_ms;

static int64_t mono_ms(void)
{
	struct timespec ts;
	real_clock_gettime()(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t offset(void)
{
	int64_t now = mono_ms();
	if (now >= atomic_load(&next_read_ms)) {
		const char *path = getenv("YW_CLOCK_FILE");
		FILE *f = path ? fopen(path, "re") : NULL;
		long long v;
		if (f) {
			if (fscanf(f, "%lld", &v) == 1)
				atomic_store(&offset_ms, (int64_t)v);
			fclose(f);
		}
		atomic_store(&next_read_ms, now + 20);
	}
	return atomic_load(&offset_ms);
}

static void shift(struct timespec *ts)
{
	int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + offset() * 1000000;
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
	if (ts->tv_nsec < 0) {
		ts->tv_nsec += 1000000000;
		ts->tv_sec -= 1;
	}
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = real_clock_gettime()(id, ts);
	if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		shift(ts);
	return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
