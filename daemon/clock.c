#include "clock.h"

#include <sys/timex.h>

#include "log.h"
#include "util.h"

static struct {
	int64_t build_ms;
	bool set;              /* the wall clock is not before the build date */
	int64_t base_wall;     /* the estimate while unset: base_wall + mono - base_mono */
	int64_t base_mono;
	int64_t last;          /* the newest stamp given */
	int64_t offset;        /* wall - mono at the last look, to see steps */
	bool holding;          /* the clock went back; stamps wait for it */
} ck;

static bool wall_is_set(int64_t wall)
{
	return wall >= ck.build_ms;
}

void clock_init(int64_t build_ms, int64_t newest_ms)
{
	int64_t wall = util_wall_ms(), mono = util_mono_ms();
	char t1[32], t2[32];
	struct timex tx = { .modes = 0 };

	ck.build_ms = build_ms;
	ck.base_wall = newest_ms > build_ms ? newest_ms : build_ms;
	ck.base_mono = mono;
	ck.last = 0;
	ck.offset = wall - mono;
	ck.set = wall_is_set(wall);
	ck.holding = false;
	if (!ck.set) {
		log_warn("clock", "the wall clock is not set (%s, before the build date): stamps "
			 "are estimated from %s until it is; events say \"clock_unset\"",
			 util_fmt_time(wall, t1, sizeof t1),
			 util_fmt_time(ck.base_wall, t2, sizeof t2));
	} else if (newest_ms > wall) {
		log_warn("clock", "the wall clock (%s) is behind the newest stamp in the store (%s)",
			 util_fmt_time(wall, t1, sizeof t1), util_fmt_time(newest_ms, t2, sizeof t2));
		if (newest_ms - wall <= CLOCK_MAX_HOLD_MS)
			ck.last = newest_ms;
	}
	if (adjtimex(&tx) == TIME_ERROR)
		log_info("clock", "the kernel says the clock is not synchronised (no NTP yet?)");
}

int64_t clock_stamp(void)
{
	int64_t wall = util_wall_ms();
	int64_t t;

	if (!ck.set) {
		t = ck.base_wall + (util_mono_ms() - ck.base_mono);
	} else if (wall < ck.last && ck.last - wall <= CLOCK_MAX_HOLD_MS) {
		t = ck.last;             /* the clock went back: hold */
		ck.holding = true;
	} else {
		if (ck.holding && wall >= ck.last)
			log_info("clock", "the wall clock has caught up with the stamps again");
		ck.holding = false;
		t = wall;
	}
	if (t > ck.last)
		ck.last = t;
	return t;
}

bool clock_is_set(void)
{
	return ck.set;
}

int clock_poll(int64_t *delta_ms)
{
	int64_t wall = util_wall_ms(), mono = util_mono_ms();
	int64_t off = wall - mono, step = off - ck.offset;
	char t1[32];

	ck.offset = off;
	if (step >= 1000 || step <= -1000)
		log_warn("clock", "the wall clock was stepped by %+lld s (now %s)",
			 /* to the nearest second: wall and monotonic are read a
			  * moment apart, so a step of an hour may measure 3599.999 s */
			 (long long)((step + (step < 0 ? -500 : 500)) / 1000),
			 util_fmt_time(wall, t1, sizeof t1));
	if (ck.set) {
		if (!wall_is_set(wall)) {
			/* set back before the build date: estimate from the last stamp */
			ck.set = false;
			ck.base_wall = ck.last;
			ck.base_mono = mono;
			log_warn("clock", "the wall clock went back before the build date: stamps "
				 "are estimated until it is set again");
		} else if (step <= -1000 && ck.last - wall > CLOCK_MAX_HOLD_MS) {
			log_warn("clock", "the wall clock went back by more than a day: stamps follow "
				 "it (the clock was far ahead before)");
			ck.last = wall;
		} else if (step <= -1000) {
			log_warn("clock", "stamps stay at the newest one given until the wall clock "
				 "passes it again");
		}
		return 0;
	}
	if (!wall_is_set(wall))
		return 0;
	int64_t estimate = ck.base_wall + (mono - ck.base_mono);
	ck.set = true;
	*delta_ms = wall - estimate;
	log_info("clock", "the wall clock is set (%s): the estimate was off by %+lld s; alarms "
		 "raised meanwhile get their corrected raise time", util_fmt_time(wall, t1, sizeof t1),
		 (long long)(*delta_ms / 1000));
	return 1;
}
