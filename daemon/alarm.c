#include "alarm.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The machine has two layers:
 *
 * - the condition (s->cond), debounced by the delays and made sticky by the
 *   hysteresis: while it is false, a reading that passes the raise test
 *   (above: value > threshold; below: value < threshold; equals: value ==
 *   threshold; not_equals: value != threshold) starts the raise delay, and
 *   the condition becomes true once every reading for delay_s has passed it.
 *   While it is true, a reading that passes the clear test (above: value <=
 *   clear; below: value >= clear; equals/not_equals: the raise test fails)
 *   starts the clear delay, and the condition becomes false once every reading
 *   for clear_delay_s has passed it. A reading in the hysteresis band (between
 *   clear and threshold) fails both tests: it cancels a pending raise (the
 *   condition "value > threshold" was broken) and a pending clear alike, so
 *   a value oscillating inside the band never chatters.
 *
 * - the alarm (s->active, s->acked) on top of it: the condition becoming true
 *   raises an inactive alarm; the condition becoming false clears an active
 *   alarm unless it is latched and not yet acknowledged, in which case the ack
 *   clears it (ACKED then CLEARED).
 *
 * A delay is "held that long" from the first reading that passed the test to
 * the reading being evaluated, on the monotonic clock: with readings every
 * second and delay_s 10, the 11th reading (t = 10 s) raises.
 */

/* Relative tolerance of equals/not_equals; see alarm_equal(). */
#define ALARM_EQ_REL 1e-9

static int64_t alarm_ms(double s)
{
	if (!(s > 0))
		return 0;
	return (int64_t)llround(s * 1000.0);
}

/* Equal within 1e-9 of the larger magnitude, and at least 1e-9 absolute (so
 * that 0 compares sanely): register values are exact small integers or
 * scaled decimals, where this absorbs the rounding of raw * scale + offset. */
static bool alarm_equal(double v, double t)
{
	double mag = fmax(1.0, fmax(fabs(v), fabs(t)));
	return fabs(v - t) <= ALARM_EQ_REL * mag;
}

/* The clear level, never on the wrong side of the threshold (a config that
 * put it there would make the alarm raise and clear on the same value). */
static double alarm_clear_level(const struct alarm_cfg *a)
{
	double c = a->has_clear ? a->clear : a->threshold;

	if (a->when == WHEN_ABOVE)
		return fmin(c, a->threshold);
	return fmax(c, a->threshold);
}

static bool alarm_raise_test(const struct alarm_cfg *a, double v)
{
	switch (a->when) {
	case WHEN_ABOVE: return v > a->threshold;
	case WHEN_BELOW: return v < a->threshold;
	case WHEN_EQUALS: return alarm_equal(v, a->threshold);
	case WHEN_NOT_EQUALS: return !alarm_equal(v, a->threshold);
	}
	return false;
}

static bool alarm_clear_test(const struct alarm_cfg *a, double v)
{
	switch (a->when) {
	case WHEN_ABOVE: return v <= alarm_clear_level(a);
	case WHEN_BELOW: return v >= alarm_clear_level(a);
	case WHEN_EQUALS:
	case WHEN_NOT_EQUALS: return !alarm_raise_test(a, v);
	}
	return false;
}

/* A state loaded from the store (or kept over a reload that changed the
 * alarm's latch) may not be one this machine reaches by itself; bring it to
 * the nearest one that is, without emitting anything:
 * - an inactive alarm has no condition;
 * - an active alarm with a cleared condition only exists when it is latched
 *   and unacknowledged; otherwise its condition is taken to hold, and it
 *   clears through the clear test and clear_delay_s;
 * - a pending time in the future of NOW comes from another boot. */
static void alarm_normalise(bool latch, struct alarm_state *s, int64_t now_mono_ms)
{
	if (!s->active)
		s->cond = false;
	else if (!s->cond && (!latch || s->acked))
		s->cond = true;
	if (s->pending_since > now_mono_ms)
		s->pending_since = -1;
}

void alarm_state_init(struct alarm_state *s)
{
	s->active = false;
	s->acked = false;
	s->cond = false;
	s->pending_since = -1;
	s->raised_ts = 0;
	s->value = 0;
}

int alarm_eval(const struct alarm_cfg *a, struct alarm_state *s, double value,
	       enum yw_quality q, int64_t now_mono_ms, int64_t now_wall_ms,
	       enum alarm_event ev[2])
{
	bool pass;
	int64_t delay;

	ev[0] = ev[1] = ALARM_EV_NONE;
	alarm_normalise(a->latch, s, now_mono_ms);

	if (q != Q_GOOD || isnan(value)) {
		s->pending_since = -1;
		return 0;
	}
	if (!s->cond) {
		pass = alarm_raise_test(a, value);
		delay = alarm_ms(a->delay_s);
	} else {
		pass = alarm_clear_test(a, value);
		delay = alarm_ms(a->clear_delay_s);
	}
	if (!pass) {
		s->pending_since = -1;
		return 0;
	}
	if (s->pending_since < 0)
		s->pending_since = now_mono_ms;
	if (now_mono_ms - s->pending_since < delay)
		return 0;

	s->pending_since = -1;
	s->cond = !s->cond;
	if (s->cond) {
		if (s->active)
			return 0;   /* latched, condition came back before the ack */
		s->active = true;
		s->acked = false;
		s->raised_ts = now_wall_ms;
		s->value = value;
		ev[0] = ALARM_EV_RAISED;
		return 1;
	}
	if (!s->active || (a->latch && !s->acked))
		return 0;           /* latched: waits for the ack */
	s->active = false;
	s->value = value;
	ev[0] = ALARM_EV_CLEARED;
	return 1;
}

int alarm_ack(bool latch, struct alarm_state *s, enum alarm_event ev[2])
{
	ev[0] = ev[1] = ALARM_EV_NONE;
	if (!s->active)
		return -1;
	alarm_normalise(latch, s, INT64_MAX);
	s->acked = true;
	ev[0] = ALARM_EV_ACKED;
	if (latch && !s->cond) {
		s->active = false;
		ev[1] = ALARM_EV_CLEARED;
		return 2;
	}
	return 1;
}

enum alarm_event alarm_offline(struct alarm_state *s, bool offline, int64_t now_wall_ms)
{
	s->pending_since = -1;
	if (offline) {
		s->cond = true;
		if (s->active)
			return ALARM_EV_NONE;
		s->active = true;
		s->acked = false;
		s->raised_ts = now_wall_ms;
		s->value = 0;
		return ALARM_EV_RAISED;
	}
	s->cond = false;
	if (!s->active)
		return ALARM_EV_NONE;
	s->active = false;
	return ALARM_EV_CLEARED;
}

char *alarm_offline_message(enum alarm_event ev, const char *device, char *buf, size_t len)
{
	/* A cleared event says what happened: the device is back. Saying "not
	 * answering" there would contradict the event itself. */
	snprintf(buf, len, ev == ALARM_EV_CLEARED ? "Device %s answers again" :
		 "Device %s is not answering", device);
	return buf;
}

const char *alarm_event_name(enum alarm_event e)
{
	switch (e) {
	case ALARM_EV_RAISED: return "raised";
	case ALARM_EV_CLEARED: return "cleared";
	case ALARM_EV_ACKED: return "acked";
	case ALARM_EV_NONE: break;
	}
	return "none";
}
