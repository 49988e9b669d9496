/*
 * gw_alarms: alarm evaluation of a reading and of a device going offline or
 * online; each event is committed to the store with its outbox row before it
 * is published. See gw_int.h.
 */
#include "gw_int.h"

/* ---------- events ---------- */

int gw_emit_alarm(struct gateway *gw, int a, enum alarm_event ev, int64_t ts, int64_t raised_ts,
		  double value, bool have_value, const struct alarm_state *after, bool may_hold)
{
	const struct alarm_cfg *ac = &gw->cfg->alarms[a];
	const struct device_cfg *dc = &gw->cfg->devices[ac->device];
	const struct point_cfg *pc = &dc->points[ac->pt];
	struct pl_event e = {
		.alarm = ac->id,
		.state = ev,
		.severity = ac->severity,
		.category = ac->category,
		.point = ac->point,
		.device = dc->id,
		.location = dc->location,
		.value = gw_pv_of(pc, value, have_value),
		.unit = pc->unit,
		.threshold = gw_pv_of(pc, ac->threshold, true),
		.clear = { ac->has_clear, false, ac->clear },
		.message = ac->message,
		.ts_ms = ts,
		.raised_ts_ms = raised_ts,
		.acked = after->acked,
	};
	if (ac->when == WHEN_EQUALS || ac->when == WHEN_NOT_EQUALS)
		e.clear.present = false;
	return gw_commit_event(gw, &e, after, &gw->alarms[a].event, may_hold);
}

int gw_emit_offline(struct gateway *gw, int d, enum alarm_event ev, int64_t ts, int64_t raised_ts,
		    const struct alarm_state *after, bool may_hold)
{
	const struct device_cfg *dc = &gw->cfg->devices[d];
	char id[YW_FULLID_MAX];
	char msg[YW_TEXT_MAX];
	snprintf(id, sizeof id, "%s.offline", dc->id);
	alarm_offline_message(ev, dc->id, msg, sizeof msg);
	struct pl_event e = {
		.alarm = id,
		.state = ev,
		.severity = dc->offline_severity,
		.category = dc->category,
		.device = dc->id,
		.location = dc->location,
		.message = msg,
		.ts_ms = ts,
		.raised_ts_ms = raised_ts,
		.acked = after->acked,
	};
	return gw_commit_event(gw, &e, after, &gw->devs[d].off_event, may_hold);
}

/* Evaluate the alarms of point P of device D on a copy of each alarm's
 * state; the state changes only when its events were recorded. */
void gw_eval_alarms(struct gateway *gw, int d, int p, double v, enum yw_quality q, int64_t ts)
{
	const int *l = gw_alarms_of_point(gw, d, p);
	int64_t now = util_mono_ms();
	for (; *l != -1; l++) {
		struct alarm_rt *ar = &gw->alarms[*l];
		struct alarm_state next = ar->st;
		enum alarm_event ev[2];
		int64_t raised = ar->st.raised_ts;
		int n = alarm_eval(&gw->cfg->alarms[*l], &next, v, q, now, ts, ev);
		int recorded = 0;
		for (int i = 0; i < n; i++) {
			int64_t rts = ev[i] == ALARM_EV_RAISED ? next.raised_ts : raised;
			if (gw_emit_alarm(gw, *l, ev[i], ts, rts ? rts : ts, v, q == Q_GOOD, &next,
					  true) < 0)
				break;
			recorded++;
		}
		/* nothing recorded: the state stays, the next reading decides again
		 * (a pending delay keeps running: it lives in the state only when
		 * no event happened) */
		if (n == 0 || recorded > 0) {
			if (recorded && ev[0] == ALARM_EV_RAISED)
				ar->raised_unset = !clock_is_set();
			ar->st = next;
		}
	}
}
