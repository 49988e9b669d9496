/*
 * clock: the wall-clock time the gateway stamps readings and events with,
 * and what it knows about that clock. Scheduling never uses it (the
 * monotonic clock does); only stamps do. Main loop only.
 *
 * The rules (docs/behaviour.md, "The clock"):
 * - The wall clock counts as set when it is not before the build date. Many
 *   gateways have no RTC and boot in 1970 until NTP sets the clock.
 * - While it is not set, stamps are an estimate: the newest time the
 *   gateway knew (the newest stamp in the store, at least the build date)
 *   plus the monotonic time since; events made then say so
 *   ("clock_unset": true). When the clock is set, the estimate's error is
 *   known (clock_poll() returns it) and the gateway corrects the raise time
 *   of the alarms raised meanwhile.
 * - Stamps never go back: after the clock is stepped back, stamps stay at
 *   the newest one given until the clock passes it again (the order of
 *   readings and events is kept; "latest" stays the latest read). A step
 *   back of more than CLOCK_MAX_HOLD_MS is taken as the correction of a
 *   clock that was far ahead, and followed.
 * - Every step (a change of wall minus monotonic time of a second or more)
 *   is logged, as are the start and the end of the unset state.
 */
#ifndef YW_CLOCK_H
#define YW_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define CLOCK_MAX_HOLD_MS (24LL * 3600 * 1000)

/* BUILD_MS: the build date (ms since the epoch); NEWEST_MS: the newest stamp
 * the store holds (0 when none). Logs the clock's state. */
void clock_init(int64_t build_ms, int64_t newest_ms);

/* The stamp for something that happens now. */
int64_t clock_stamp(void);

/* True when the stamps come from a set wall clock (not an estimate). */
bool clock_is_set(void);

/* Look at the wall clock (once per loop tick): log steps; when it has just
 * become set, return 1 and the error of the estimate in *DELTA_MS (the
 * amount to add to stamps given while unset). 0 otherwise. */
int clock_poll(int64_t *delta_ms);

#endif
