/*
 * alarm: the alarm state machine of one alarm. Pure: it takes the alarm's
 * config, its state, a reading (value + quality) and the time, and says which
 * events happened. It does no I/O and keeps no globals; the caller (the main
 * loop) persists the state and the events through the store.
 *
 * Rules (SPEC "Alarms"):
 * - above/below compare against threshold to raise and against clear
 *   (hysteresis) to clear; equals/not_equals compare against value.
 *   above raises on value > threshold and its condition clears on
 *   value <= clear; below raises on value < threshold and clears on
 *   value >= clear (clear defaults to threshold; a clear on the wrong side
 *   of the threshold is taken as the threshold). equals/not_equals compare
 *   with a tolerance of 1e-9 relative to the larger magnitude (at least
 *   1e-9 absolute) and clear when the comparison turns.
 * - delay_s: the condition must hold continuously that long (measured on
 *   NOW_MONO_MS) before the alarm is raised; clear_delay_s likewise.
 * - latch: an active latched alarm whose condition has cleared stays active
 *   until acknowledged; ack then emits ACKED followed at once by CLEARED.
 *   A latched alarm acked while its condition holds stays active (acked) and
 *   clears when the condition clears.
 * - a reading of bad or stale quality neither raises nor clears, and cancels
 *   a pending (delayed) raise or clear: the delay starts again at the next
 *   good reading.
 *   A value between clear and threshold (the hysteresis band) cancels a
 *   pending raise and a pending clear alike. A NaN value counts as bad.
 * - restart / reload: a state loaded from the store is used as is. An active
 *   alarm whose condition still holds emits nothing; one whose condition is
 *   clear at the first good readings clears after clear_delay_s (latched:
 *   waits for the ack), never raising again. Inconsistent states (active,
 *   not latched, cond false) are taken as "condition holds"; a
 *   pending_since later than the current monotonic time is dropped.
 * - the implicit DEVICE.offline alarm is driven by alarm_offline().
 */
#ifndef YW_ALARM_H
#define YW_ALARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "util.h"

enum alarm_event { ALARM_EV_NONE = 0, ALARM_EV_RAISED, ALARM_EV_CLEARED, ALARM_EV_ACKED };

struct alarm_state {
	bool active;            /* raised, not yet cleared */
	bool acked;             /* acknowledged since it was raised (kept after
	                           the clear, for the CLEARED event's "acked") */
	bool cond;              /* last evaluated condition (after hysteresis) */
	int64_t pending_since;  /* mono ms the raise/clear condition began; -1 = none */
	int64_t raised_ts;      /* wall ms of the raise (0 before the first raise;
	                           kept after the clear, for the CLEARED event) */
	double value;           /* value at the last RAISED/CLEARED from alarm_eval */
};

/* A fresh, inactive state. */
void alarm_state_init(struct alarm_state *s);

/* Feed one reading. Writes up to 2 events to EV (the rest ALARM_EV_NONE) and
 * returns how many. NOW_WALL_MS stamps raised_ts. */
int alarm_eval(const struct alarm_cfg *a, struct alarm_state *s, double value,
	       enum yw_quality q, int64_t now_mono_ms, int64_t now_wall_ms,
	       enum alarm_event ev[2]);

/* Acknowledge. Returns -1 when the alarm is not active (refused), else the
 * number of events written to EV (ACKED, then CLEARED when a latched alarm's
 * condition is already clear). LATCH is the alarm's latch setting (false for
 * an offline alarm). Acking an already acked active alarm is accepted and
 * emits ACKED again. */
int alarm_ack(bool latch, struct alarm_state *s, enum alarm_event ev[2]);

/* Offline alarm: device went offline (true) or answered again (false).
 * Returns the event (RAISED, CLEARED or NONE); no delay, no latch. */
enum alarm_event alarm_offline(struct alarm_state *s, bool offline, int64_t now_wall_ms);
/* The message of an offline alarm's event EV about DEVICE, into BUF (LEN):
 * raised and acked (the alarm is active: the device still does not answer)
 * "Device DEVICE is not answering"; cleared "Device DEVICE answers again".
 * Returns BUF. */
char *alarm_offline_message(enum alarm_event ev, const char *device, char *buf, size_t len);

const char *alarm_event_name(enum alarm_event e);  /* "raised" | "cleared" | "acked" */

#endif
