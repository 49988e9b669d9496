/*
 * gw_alarms: alarm evaluation of a reading and of a device going offline or
 * online; each event is committed to the store with its outbox row before it
 * is published. See gw_int.h.
 */
#include "gw_int.h"

/* ---------- events ---------- */

static void set_event(char **slot, const char *json)
{
	char *copy = strdup(json);
	if (!copy)
		return;   /* keep the older one; only alarms/active is affected */
	free(*slot);
	*slot = copy;
}

/* Commit one event durably, then let the outbox send it. */
static void emit(struct gateway *gw, struct pl_event *e, const struct alarm_state *s,
		 char **event_slot)
{
	char topic[YW_TEXT_MAX * 4];
	char *json;

	e->gateway = gw->cfg->gateway;
	e->seq = store_next_seq(gw->st);
	if (e->seq <= 0) {
		log_error("alarm", "%s: no sequence number; event %s not recorded", e->alarm,
			  alarm_event_name(e->state));
		return;
	}
	json = payload_event(e);
	if (!json) {
		log_error("alarm", "%s: out of memory building the event", e->alarm);
		return;
	}
	gw_topic_of(gw, topic, sizeof topic, "alarm/%s/%s", config_category_name(e->category),
		 e->alarm);
	if (store_commit_event(gw->st, e->seq, e->alarm, e->state, e->category, e->severity,
			       e->ts_ms, json, s, gw_mqtt_on(gw) ? topic : NULL) < 0) {
		log_error("alarm", "%s: event %s could not be stored", e->alarm,
			  alarm_event_name(e->state));
		free(json);
		return;
	}
	log_info("alarm", "%s %s (seq %lld%s%s)", e->alarm, alarm_event_name(e->state),
		 (long long)e->seq, e->message && *e->message ? ": " : "",
		 e->message ? e->message : "");
	set_event(event_slot, json);
	free(json);
	gw->active_dirty = true;
	/* A new alarm event goes ahead of whatever the outbox is sending. */
	gw->cur_prio = -1;
	gw->cur_id = 0;
	gw->outbox_idle = false;
	gw_pump(gw);
}

void gw_emit_alarm(struct gateway *gw, int a, enum alarm_event ev, int64_t ts,
		       int64_t raised_ts, double value, bool have_value)
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
		.acked = gw->alarms[a].st.acked,
	};
	if (ac->when == WHEN_EQUALS || ac->when == WHEN_NOT_EQUALS)
		e.clear.present = false;
	emit(gw, &e, &gw->alarms[a].st, &gw->alarms[a].event);
}

void gw_emit_offline(struct gateway *gw, int d, enum alarm_event ev, int64_t ts,
			 int64_t raised_ts)
{
	const struct device_cfg *dc = &gw->cfg->devices[d];
	char id[YW_FULLID_MAX];
	char msg[YW_TEXT_MAX];
	snprintf(id, sizeof id, "%s.offline", dc->id);
	snprintf(msg, sizeof msg, "Device %s is not answering", dc->id);
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
		.acked = gw->devs[d].off.acked,
	};
	emit(gw, &e, &gw->devs[d].off, &gw->devs[d].off_event);
}

void gw_eval_alarms(struct gateway *gw, int d, int p, double v, enum yw_quality q, int64_t ts)
{
	const int *l = gw_alarms_of_point(gw, d, p);
	int64_t now = util_mono_ms();
	for (; *l != -1; l++) {
		struct alarm_rt *ar = &gw->alarms[*l];
		enum alarm_event ev[2];
		int64_t raised = ar->st.raised_ts;
		int n = alarm_eval(&gw->cfg->alarms[*l], &ar->st, v, q, now, ts, ev);
		for (int i = 0; i < n; i++) {
			int64_t rts = ev[i] == ALARM_EV_RAISED ? ar->st.raised_ts : raised;
			gw_emit_alarm(gw, *l, ev[i], ts, rts ? rts : ts, v, q == Q_GOOD);
		}
	}
}
