#include "gateway.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarm.h"
#include "../drivers/codec.h"
#include "log.h"
#include "payload.h"
#include "util.h"
#include "version.h"

#define OUTBOX_INFLIGHT 16      /* QoS 1 messages in flight at once */
#define FLUSH_MS 1000           /* batch commit period */
#define MAINTAIN_MS (5 * 60 * 1000)
#define STATUS_MS (60 * 1000)   /* P/status refresh (outbox depth) */

/* Runtime state of one device, kept across reloads by id. */
struct dev_rt {
	char id[YW_ID_MAX];
	int state;                  /* -1 unknown, 0 offline, 1 online */
	int64_t last_ok_ms;
	int64_t errors;             /* failed requests since start */
	struct alarm_state off;     /* implicit DEVICE.offline alarm */
	char *off_event;            /* latest event JSON of the offline alarm */
	size_t npoints;
	double *values;             /* latest value per point */
	uint8_t *quality;           /* latest quality per point (Q_STALE: none) */
};

/* Runtime state of one configured alarm. */
struct alarm_rt {
	struct alarm_state st;
	char *event;                /* latest event JSON (for alarms/active) */
};

struct inflight {
	int mid;
	int64_t row;
};

struct gateway {
	const struct config *cfg;
	struct store *st;
	struct bus_worker **workers;
	struct mqtt_link *link;

	struct dev_rt *devs;        /* cfg->ndevices */
	struct alarm_rt *alarms;    /* cfg->nalarms */
	int **pt_alarms;            /* per device: per point: -1-terminated alarm list */

	char prefix[YW_TEXT_MAX * 2];   /* P = prefix/site/gateway */
	char status_topic[YW_TEXT_MAX * 2 + 16];

	int64_t started_ms;
	int64_t next_flush, next_maintain, next_telemetry, next_status;

	/* outbox sender */
	struct inflight inflight[OUTBOX_INFLIGHT];
	int ninflight;
	int cur_prio;
	int64_t cur_id;
	bool outbox_idle;           /* the last fetch found nothing new */
	bool active_dirty;          /* alarms/active must be republished */
};

static void gw_pump(struct gateway *gw);

/* ---------- helpers ---------- */

static void topic_of(const struct gateway *gw, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void topic_of(const struct gateway *gw, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s/", gw->prefix);
	if (n < 0 || (size_t)n >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool mqtt_on(const struct gateway *gw)
{
	return gw->cfg->mqtt.enabled;
}

static struct pl_value pv_of(const struct point_cfg *p, double v, bool present)
{
	struct pl_value out = { present, p->type == TYPE_BOOL, v };
	return out;
}

static void dev_rt_free(struct dev_rt *d)
{
	free(d->off_event);
	free(d->values);
	free(d->quality);
	memset(d, 0, sizeof *d);
}

static int dev_rt_init(struct dev_rt *d, const struct device_cfg *dc)
{
	memset(d, 0, sizeof *d);
	util_strlcpy(d->id, dc->id, sizeof d->id);
	d->state = -1;
	alarm_state_init(&d->off);
	d->npoints = dc->npoints;
	d->values = calloc(dc->npoints ? dc->npoints : 1, sizeof *d->values);
	d->quality = malloc(dc->npoints ? dc->npoints : 1);
	if (!d->values || !d->quality)
		return -1;
	memset(d->quality, Q_STALE, dc->npoints ? dc->npoints : 1);
	return 0;
}

static void free_pt_alarms(int **pt_alarms, size_t ndev)
{
	if (!pt_alarms)
		return;
	for (size_t i = 0; i < ndev; i++)
		free(pt_alarms[i]);
	free(pt_alarms);
}

/* Per device a flat array: for point k, the alarms on it, each list ended by
 * -1; index[k] is found by walking. Kept simple: per device one array of
 * (npoints + nalarms_on_device) ints laid out as lists one after the other. */
static int **build_pt_alarms(const struct config *cfg)
{
	int **out = calloc(cfg->ndevices ? cfg->ndevices : 1, sizeof *out);
	if (!out)
		return NULL;
	for (size_t d = 0; d < cfg->ndevices; d++) {
		size_t n = cfg->devices[d].npoints, k = 0;
		size_t cnt = n;
		for (size_t a = 0; a < cfg->nalarms; a++)
			if (cfg->alarms[a].device == (int)d)
				cnt++;
		out[d] = malloc((cnt ? cnt : 1) * sizeof(int));
		if (!out[d])
			goto fail;
		for (size_t p = 0; p < n; p++) {
			for (size_t a = 0; a < cfg->nalarms; a++)
				if (cfg->alarms[a].device == (int)d && cfg->alarms[a].pt == (int)p)
					out[d][k++] = (int)a;
			out[d][k++] = -1;
		}
	}
	return out;
fail:
	free_pt_alarms(out, cfg->ndevices);
	return NULL;
}

static const int *alarms_of_point(const struct gateway *gw, int dev, int pt)
{
	const int *l = gw->pt_alarms[dev];
	for (int p = 0; p < pt; p++) {
		while (*l != -1)
			l++;
		l++;
	}
	return l;
}

/* ---------- lifecycle ---------- */

static void set_prefix(struct gateway *gw)
{
	const struct config *cfg = gw->cfg;
	snprintf(gw->prefix, sizeof gw->prefix, "%s/%s/%s",
		 cfg->mqtt.enabled ? cfg->mqtt.topic_prefix : "yardwatch", cfg->site_id,
		 cfg->gateway);
	snprintf(gw->status_topic, sizeof gw->status_topic, "%s/status", gw->prefix);
}

static int load_alarm_states(struct gateway *gw)
{
	const struct config *cfg = gw->cfg;
	for (size_t a = 0; a < cfg->nalarms; a++) {
		if (store_alarm_load(gw->st, cfg->alarms[a].id, &gw->alarms[a].st,
				     &gw->alarms[a].event) < 0)
			return -1;
	}
	for (size_t d = 0; d < cfg->ndevices; d++) {
		char id[YW_FULLID_MAX];
		snprintf(id, sizeof id, "%s.offline", cfg->devices[d].id);
		if (store_alarm_load(gw->st, id, &gw->devs[d].off, &gw->devs[d].off_event) < 0)
			return -1;
	}
	return 0;
}

static int alloc_runtime(const struct config *cfg, struct dev_rt **devs, struct alarm_rt **alarms,
			 int ***pt_alarms)
{
	*devs = calloc(cfg->ndevices ? cfg->ndevices : 1, sizeof **devs);
	*alarms = calloc(cfg->nalarms ? cfg->nalarms : 1, sizeof **alarms);
	*pt_alarms = build_pt_alarms(cfg);
	if (!*devs || !*alarms || !*pt_alarms)
		return -1;
	for (size_t d = 0; d < cfg->ndevices; d++)
		if (dev_rt_init(&(*devs)[d], &cfg->devices[d]) < 0)
			return -1;
	for (size_t a = 0; a < cfg->nalarms; a++)
		alarm_state_init(&(*alarms)[a].st);
	return 0;
}

static void free_runtime(size_t ndev, size_t nalarm, struct dev_rt *devs, struct alarm_rt *alarms,
			 int **pt_alarms)
{
	if (devs)
		for (size_t d = 0; d < ndev; d++)
			dev_rt_free(&devs[d]);
	free(devs);
	if (alarms)
		for (size_t a = 0; a < nalarm; a++)
			free(alarms[a].event);
	free(alarms);
	free_pt_alarms(pt_alarms, ndev);
}

struct gateway *gateway_new(const struct config *cfg, struct store *st)
{
	struct gateway *gw = calloc(1, sizeof *gw);
	if (!gw)
		return NULL;
	gw->cfg = cfg;
	gw->st = st;
	set_prefix(gw);
	if (alloc_runtime(cfg, &gw->devs, &gw->alarms, &gw->pt_alarms) < 0) {
		log_error("gateway", "out of memory");
		free_runtime(cfg->ndevices, cfg->nalarms, gw->devs, gw->alarms, gw->pt_alarms);
		free(gw);
		return NULL;
	}
	if (load_alarm_states(gw) < 0) {
		gateway_free(gw);
		return NULL;
	}
	int64_t now = util_mono_ms();
	gw->started_ms = util_wall_ms();
	gw->next_flush = now + FLUSH_MS;
	gw->next_maintain = now + 10000;
	gw->next_telemetry = now + (cfg->mqtt.telemetry_interval_s > 0 ?
				    cfg->mqtt.telemetry_interval_s * 1000 : 0);
	gw->next_status = now + STATUS_MS;
	gw->cur_prio = -1;
	return gw;
}

void gateway_free(struct gateway *gw)
{
	if (!gw)
		return;
	free_runtime(gw->cfg->ndevices, gw->cfg->nalarms, gw->devs, gw->alarms, gw->pt_alarms);
	free(gw);
}

void gateway_attach(struct gateway *gw, struct bus_worker **workers, struct mqtt_link *link)
{
	gw->workers = workers;
	if (gw->link != link) {
		gw->link = link;
		gw->ninflight = 0;
		gw->cur_prio = -1;
		gw->cur_id = 0;
	}
}

int gateway_reconfigure(struct gateway *gw, const struct config *cfg)
{
	struct dev_rt *devs;
	struct alarm_rt *alarms;
	int **pt_alarms;

	if (alloc_runtime(cfg, &devs, &alarms, &pt_alarms) < 0) {
		log_error("gateway", "out of memory applying the new config");
		free_runtime(cfg->ndevices, cfg->nalarms, devs, alarms, pt_alarms);
		return -1;
	}
	/* Carry device state over by id; point values only when the point list
	 * is the same size (values of a changed device start again). */
	for (size_t d = 0; d < cfg->ndevices; d++) {
		int old = config_find_device(gw->cfg, cfg->devices[d].id);
		if (old < 0)
			continue;
		struct dev_rt *o = &gw->devs[old], *n = &devs[d];
		n->state = o->state;
		n->last_ok_ms = o->last_ok_ms;
		n->errors = o->errors;
		n->off = o->off;
		n->off_event = o->off_event;
		o->off_event = NULL;
		if (o->npoints == n->npoints) {
			memcpy(n->values, o->values, n->npoints * sizeof *n->values);
			memcpy(n->quality, o->quality, n->npoints);
		}
	}
	/* Alarm state survives a reload when the id is unchanged. */
	for (size_t a = 0; a < cfg->nalarms; a++) {
		int old = config_find_alarm(gw->cfg, cfg->alarms[a].id);
		if (old < 0) {
			if (store_alarm_load(gw->st, cfg->alarms[a].id, &alarms[a].st,
					     &alarms[a].event) < 0)
				alarm_state_init(&alarms[a].st);
			continue;
		}
		alarms[a].st = gw->alarms[old].st;
		alarms[a].st.pending_since = -1;
		alarms[a].event = gw->alarms[old].event;
		gw->alarms[old].event = NULL;
	}
	free_runtime(gw->cfg->ndevices, gw->cfg->nalarms, gw->devs, gw->alarms, gw->pt_alarms);
	gw->cfg = cfg;
	gw->devs = devs;
	gw->alarms = alarms;
	gw->pt_alarms = pt_alarms;
	set_prefix(gw);
	gw->active_dirty = true;
	return 0;
}

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
	topic_of(gw, topic, sizeof topic, "alarm/%s/%s", config_category_name(e->category),
		 e->alarm);
	if (store_commit_event(gw->st, e->seq, e->alarm, e->state, e->category, e->severity,
			       e->ts_ms, json, s, mqtt_on(gw) ? topic : NULL) < 0) {
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

static void emit_alarm(struct gateway *gw, int a, enum alarm_event ev, int64_t ts,
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
		.value = pv_of(pc, value, have_value),
		.unit = pc->unit,
		.threshold = pv_of(pc, ac->threshold, true),
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

static void emit_offline(struct gateway *gw, int d, enum alarm_event ev, int64_t ts,
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

static void eval_alarms(struct gateway *gw, int d, int p, double v, enum yw_quality q, int64_t ts)
{
	const int *l = alarms_of_point(gw, d, p);
	int64_t now = util_mono_ms();
	for (; *l != -1; l++) {
		struct alarm_rt *ar = &gw->alarms[*l];
		enum alarm_event ev[2];
		int64_t raised = ar->st.raised_ts;
		int n = alarm_eval(&gw->cfg->alarms[*l], &ar->st, v, q, now, ts, ev);
		for (int i = 0; i < n; i++) {
			int64_t rts = ev[i] == ALARM_EV_RAISED ? ar->st.raised_ts : raised;
			emit_alarm(gw, *l, ev[i], ts, rts ? rts : ts, v, q == Q_GOOD);
		}
	}
}

/* ---------- device status ---------- */

static void device_status(struct gateway *gw, int d, int64_t ts)
{
	struct dev_rt *dr = &gw->devs[d];
	char topic[YW_TEXT_MAX * 4];
	char *json;

	if (!mqtt_on(gw))
		return;
	json = payload_device_status(dr->id, dr->state == 1, ts, dr->last_ok_ms, dr->errors);
	if (!json)
		return;
	topic_of(gw, topic, sizeof topic, "device/%s/status", dr->id);
	store_outbox_add(gw->st, PRIO_STATUS, topic, json, 1, true);
	free(json);
	gw->outbox_idle = false;
}

static void set_online(struct gateway *gw, int d, bool online, int64_t ts)
{
	struct dev_rt *dr = &gw->devs[d];
	const struct device_cfg *dc = &gw->cfg->devices[d];
	int64_t raised = dr->off.raised_ts;

	if (dr->state == (online ? 1 : 0))
		return;
	dr->state = online ? 1 : 0;
	log_info("poll", "%s (unit %d) is %s", dc->id, dc->unit, online ? "online" : "offline");
	store_device_state(gw->st, d, ts, online);
	device_status(gw, d, ts);
	enum alarm_event ev = alarm_offline(&dr->off, !online, ts);
	if (ev != ALARM_EV_NONE)
		emit_offline(gw, d, ev, ts, ev == ALARM_EV_RAISED ? dr->off.raised_ts :
					      (raised ? raised : ts));
	if (!online) {
		/* Points of an offline device are stale from now on. */
		for (size_t p = 0; p < dc->npoints; p++) {
			dr->quality[p] = Q_STALE;
			store_put_reading(gw->st, d, (int)p, ts, 0, Q_STALE);
		}
	}
}

/* ---------- results ---------- */

static void on_poll(struct gateway *gw, const struct bus_result *r)
{
	const struct device_cfg *dc = &gw->cfg->devices[r->dev];
	struct dev_rt *dr = &gw->devs[r->dev];
	struct store_poll sp = { r->ts_ms, r->ok, r->timeouts, r->exceptions, r->crc, r->other };

	store_device_poll(gw->st, r->dev, &sp);
	dr->errors += r->timeouts + r->exceptions + r->crc + r->other;
	if (!r->ok) {
		if (r->consecutive_failures >= dc->offline_after)
			set_online(gw, r->dev, false, r->ts_ms);
		return;
	}
	dr->last_ok_ms = r->ts_ms;
	set_online(gw, r->dev, true, r->ts_ms);
	for (size_t p = 0; p < dc->npoints && p < r->npoints; p++) {
		enum yw_quality q = (enum yw_quality)r->quality[p];
		double v = r->values[p];
		if (q == Q_GOOD && !isfinite(v))
			q = Q_BAD;
		dr->quality[p] = (uint8_t)q;
		if (q == Q_GOOD)
			dr->values[p] = v;
		store_put_reading(gw->st, r->dev, (int)p, r->ts_ms, v, q);
		eval_alarms(gw, r->dev, (int)p, v, q, r->ts_ms);
	}
}

static void publish_result(struct gateway *gw, const char *id, bool ok, const char *err,
			   const struct pl_value *value)
{
	char topic[YW_TEXT_MAX * 4];
	char *json;

	if (!gw->link)
		return;
	json = payload_cmd_result(id, ok, err, value);
	if (!json)
		return;
	topic_of(gw, topic, sizeof topic, "cmd/result");
	if (mqtt_publish(gw->link, topic, json, 1, false, NULL) < 0)
		log_warn("cmd", "result of request %s not sent: broker link down", id ? id : "null");
	free(json);
}

static void on_cmd_result(struct gateway *gw, const struct bus_result *r)
{
	const struct bus_cmd *c = &r->cmd;
	if (c->dev < 0 || (size_t)c->dev >= gw->cfg->ndevices ||
	    c->pt < 0 || (size_t)c->pt >= gw->cfg->devices[c->dev].npoints) {
		publish_result(gw, c->req_id_null ? NULL : c->req_id, false,
			       "configuration changed while the request ran", NULL);
		return;
	}
	const struct point_cfg *pc = &gw->cfg->devices[c->dev].points[c->pt];
	struct pl_value v = pv_of(pc, r->cmd_value, r->cmd_ok);
	log_info("cmd", "%s %s.%s: %s%s", c->write ? "write" : "read",
		 gw->cfg->devices[c->dev].id, pc->name, r->cmd_ok ? "ok" : "failed: ",
		 r->cmd_ok ? "" : r->error);
	publish_result(gw, c->req_id_null ? NULL : c->req_id, r->cmd_ok,
		       r->cmd_ok ? NULL : r->error, r->cmd_ok ? &v : NULL);
}

void gateway_on_result(struct gateway *gw, const struct bus_result *r)
{
	if (r->dev < 0 || (size_t)r->dev >= gw->cfg->ndevices)
		return;
	if (r->kind == BUS_RES_POLL)
		on_poll(gw, r);
	else
		on_cmd_result(gw, r);
}

/* ---------- outbox ---------- */

static bool outbox_pending(struct gateway *gw)
{
	return gw->ninflight > 0 || store_outbox_depth(gw->st) > 0;
}

static bool is_inflight(const struct gateway *gw, int64_t row)
{
	for (int i = 0; i < gw->ninflight; i++)
		if (gw->inflight[i].row == row)
			return true;
	return false;
}

static void publish_active(struct gateway *gw)
{
	const char *events[512];
	size_t n = 0;
	char topic[YW_TEXT_MAX * 4];

	for (size_t a = 0; a < gw->cfg->nalarms && n < 512; a++)
		if (gw->alarms[a].st.active && gw->alarms[a].event)
			events[n++] = gw->alarms[a].event;
	for (size_t d = 0; d < gw->cfg->ndevices && n < 512; d++)
		if (gw->devs[d].off.active && gw->devs[d].off_event)
			events[n++] = gw->devs[d].off_event;
	char *json = payload_alarms_active(util_wall_ms(), events, n);
	if (!json)
		return;
	topic_of(gw, topic, sizeof topic, "alarms/active");
	if (mqtt_publish(gw->link, topic, json, 1, true, NULL) == 0)
		gw->active_dirty = false;
	free(json);
}

/* Send outbox rows oldest first (alarm events first) while there is room in
 * flight. Rows leave the store only on PUBACK (gateway_on_publish). */
static void gw_pump(struct gateway *gw)
{
	struct outbox_row rows[OUTBOX_INFLIGHT];

	if (!gw->link || !mqtt_connected(gw->link))
		return;
	while (gw->ninflight < OUTBOX_INFLIGHT && !gw->outbox_idle) {
		int want = OUTBOX_INFLIGHT - gw->ninflight;
		int n = store_outbox_fetch(gw->st, gw->cur_prio, gw->cur_id, rows, want);
		if (n < 0)
			return;
		if (n == 0) {
			gw->outbox_idle = true;
			break;
		}
		for (int i = 0; i < n; i++) {
			int mid = 0;
			gw->cur_prio = rows[i].prio;
			gw->cur_id = rows[i].id;
			if (!is_inflight(gw, rows[i].id) && gw->ninflight < OUTBOX_INFLIGHT) {
				if (mqtt_publish(gw->link, rows[i].topic, rows[i].payload, rows[i].qos,
						 rows[i].retain, &mid) < 0) {
					/* Link went down: start over on the next connect. */
					for (int j = i; j < n; j++)
						store_outbox_row_free(&rows[j]);
					gw->cur_prio = -1;
					gw->cur_id = 0;
					return;
				}
				if (rows[i].qos > 0) {
					gw->inflight[gw->ninflight].mid = mid;
					gw->inflight[gw->ninflight].row = rows[i].id;
					gw->ninflight++;
				} else {
					store_outbox_delete(gw->st, rows[i].id);
				}
			}
			store_outbox_row_free(&rows[i]);
		}
	}
	if (gw->active_dirty && !outbox_pending(gw))
		publish_active(gw);
}

static void publish_status(struct gateway *gw)
{
	char *json = payload_status_online(YW_VERSION, gw->started_ms, util_wall_ms(),
					   store_outbox_depth(gw->st));
	if (!json)
		return;
	mqtt_publish(gw->link, gw->status_topic, json, 1, true, NULL);
	free(json);
}

static void cb_connect(void *ctx)
{
	struct gateway *gw = ctx;
	gw->ninflight = 0;
	gw->cur_prio = -1;
	gw->cur_id = 0;
	gw->outbox_idle = false;
	gw->active_dirty = true;
	publish_status(gw);
	gw_pump(gw);
}

static void cb_disconnect(void *ctx)
{
	struct gateway *gw = ctx;
	/* Whatever was in flight is sent again on the next connect. */
	gw->ninflight = 0;
	gw->cur_prio = -1;
	gw->cur_id = 0;
}

static void cb_publish(void *ctx, int mid)
{
	struct gateway *gw = ctx;
	for (int i = 0; i < gw->ninflight; i++) {
		if (gw->inflight[i].mid != mid)
			continue;
		store_outbox_delete(gw->st, gw->inflight[i].row);
		gw->inflight[i] = gw->inflight[--gw->ninflight];
		gw_pump(gw);
		return;
	}
}

/* ---------- commands ---------- */

static int find_point(const struct config *cfg, const char *full, int *dev, int *pt)
{
	char d[YW_FULLID_MAX];
	const char *dot = strchr(full, '.');
	if (!dot || (size_t)(dot - full) >= sizeof d)
		return -1;
	memcpy(d, full, (size_t)(dot - full));
	d[dot - full] = '\0';
	*dev = config_find_device(cfg, d);
	if (*dev < 0)
		return -1;
	*pt = config_find_point(&cfg->devices[*dev], dot + 1);
	return *pt < 0 ? -1 : 0;
}

static void cmd_ack(struct gateway *gw, const struct pl_cmd *c)
{
	const char *id = c->id_null ? NULL : c->id;
	enum alarm_event ev[2];
	int64_t ts = util_wall_ms();
	char err[YW_TEXT_MAX + 64];
	int a = config_find_alarm(gw->cfg, c->alarm);

	if (a >= 0) {
		int64_t raised = gw->alarms[a].st.raised_ts;
		int n = alarm_ack(gw->cfg->alarms[a].latch, &gw->alarms[a].st, ev);
		if (n < 0) {
			snprintf(err, sizeof err, "alarm %s is not active", c->alarm);
			publish_result(gw, id, false, err, NULL);
			return;
		}
		const struct alarm_cfg *ac = &gw->cfg->alarms[a];
		struct dev_rt *dr = &gw->devs[ac->device];
		bool have = dr->quality[ac->pt] == Q_GOOD;
		for (int i = 0; i < n; i++)
			emit_alarm(gw, a, ev[i], ts, raised ? raised : ts, dr->values[ac->pt], have);
		log_info("cmd", "ack %s by %s", c->alarm, *c->by ? c->by : "(unnamed)");
		publish_result(gw, id, true, NULL, NULL);
		return;
	}
	/* DEVICE.offline */
	size_t len = strlen(c->alarm);
	if (len > 8 && strcmp(c->alarm + len - 8, ".offline") == 0) {
		char dev[YW_FULLID_MAX];
		util_strlcpy(dev, c->alarm, sizeof dev);
		dev[len - 8] = '\0';
		int d = config_find_device(gw->cfg, dev);
		if (d >= 0) {
			int64_t raised = gw->devs[d].off.raised_ts;
			int n = alarm_ack(false, &gw->devs[d].off, ev);
			if (n < 0) {
				snprintf(err, sizeof err, "alarm %s is not active", c->alarm);
				publish_result(gw, id, false, err, NULL);
				return;
			}
			for (int i = 0; i < n; i++)
				emit_offline(gw, d, ev[i], ts, raised ? raised : ts);
			publish_result(gw, id, true, NULL, NULL);
			return;
		}
	}
	snprintf(err, sizeof err, "unknown alarm %s", c->alarm);
	publish_result(gw, id, false, err, NULL);
}

static void cmd_point(struct gateway *gw, const struct pl_cmd *c)
{
	const char *id = c->id_null ? NULL : c->id;
	char err[YW_TEXT_MAX + 128];
	int d, p;

	if (find_point(gw->cfg, c->point, &d, &p) < 0) {
		snprintf(err, sizeof err, "unknown point %s", c->point);
		publish_result(gw, id, false, err, NULL);
		return;
	}
	const struct device_cfg *dc = &gw->cfg->devices[d];
	const struct point_cfg *pc = &dc->points[p];
	if (!dc->enabled) {
		snprintf(err, sizeof err, "device %s is disabled", dc->id);
		publish_result(gw, id, false, err, NULL);
		return;
	}
	if (c->kind == PL_CMD_WRITE) {
		double v = c->value.v;
		if (!pc->writable) {
			snprintf(err, sizeof err, "point %s is not writable", c->point);
			publish_result(gw, id, false, err, NULL);
			return;
		}
		if (pc->type == TYPE_BOOL) {
			if (!c->value.is_bool && v != 0 && v != 1) {
				snprintf(err, sizeof err, "value out of range: %s is a bool (true/false or 0/1)",
					 c->point);
				publish_result(gw, id, false, err, NULL);
				return;
			}
		} else {
			double lo, hi;
			int dec = 0;
			if (pc->decimals_from >= 0)
				dec = (int)gw->devs[d].values[pc->decimals_from];
			codec_range(pc, dec, &lo, &hi);
			if (pc->has_min)
				lo = pc->min;
			if (pc->has_max)
				hi = pc->max;
			if (c->value.is_bool || !(v >= lo && v <= hi)) {
				snprintf(err, sizeof err, "value out of range: %s takes %g..%g", c->point,
					 lo, hi);
				publish_result(gw, id, false, err, NULL);
				return;
			}
		}
	}
	struct bus_cmd bc;
	memset(&bc, 0, sizeof bc);
	util_strlcpy(bc.req_id, c->id, sizeof bc.req_id);
	bc.req_id_null = c->id_null;
	bc.dev = d;
	bc.pt = p;
	bc.write = c->kind == PL_CMD_WRITE;
	bc.value = c->value.is_bool ? (c->value.v != 0) : c->value.v;
	if (!gw->workers || !gw->workers[dc->bus] || bus_submit(gw->workers[dc->bus], &bc) < 0) {
		snprintf(err, sizeof err, "bus %s is not running", gw->cfg->buses[dc->bus].id);
		publish_result(gw, id, false, err, NULL);
	}
}

static void cb_message(void *ctx, const char *topic, const char *payload, size_t len)
{
	struct gateway *gw = ctx;
	char base[YW_TEXT_MAX * 4];
	char err[YW_TEXT_MAX];
	struct pl_cmd c;
	enum pl_cmd_kind kind;

	topic_of(gw, base, sizeof base, "cmd/");
	size_t bl = strlen(base);
	if (strncmp(topic, base, bl) != 0)
		return;
	const char *verb = topic + bl;
	if (strcmp(verb, "ack") == 0)
		kind = PL_CMD_ACK;
	else if (strcmp(verb, "write") == 0)
		kind = PL_CMD_WRITE;
	else if (strcmp(verb, "read") == 0)
		kind = PL_CMD_READ;
	else
		return;   /* cmd/result (our own) and unknown verbs */
	memset(&c, 0, sizeof c);
	if (payload_parse_cmd(kind, payload, len, &c, err, sizeof err) < 0) {
		log_warn("cmd", "refused %s: %s", verb, err);
		publish_result(gw, c.id_null ? NULL : c.id, false, err, NULL);
		return;
	}
	if (kind == PL_CMD_ACK)
		cmd_ack(gw, &c);
	else
		cmd_point(gw, &c);
}

const struct mqtt_callbacks gateway_mqtt_callbacks = {
	.on_connect = cb_connect,
	.on_disconnect = cb_disconnect,
	.on_publish = cb_publish,
	.on_message = cb_message,
};

/* ---------- timers ---------- */

static void publish_telemetry(struct gateway *gw)
{
	const struct config *cfg = gw->cfg;
	char topic[YW_TEXT_MAX * 4];
	int64_t ts = util_wall_ms();

	for (size_t d = 0; d < cfg->ndevices; d++) {
		const struct device_cfg *dc = &cfg->devices[d];
		struct dev_rt *dr = &gw->devs[d];
		const char **names;
		struct pl_value *vals;
		size_t n = 0;
		enum yw_quality q = Q_GOOD;

		if (!dc->enabled || dr->state == -1)
			continue;
		names = malloc((dc->npoints ? dc->npoints : 1) * sizeof *names);
		vals = malloc((dc->npoints ? dc->npoints : 1) * sizeof *vals);
		if (!names || !vals)
			goto next;
		for (size_t p = 0; p < dc->npoints; p++) {
			if (dr->state == 1 && dr->quality[p] == Q_GOOD) {
				names[n] = dc->points[p].name;
				vals[n] = pv_of(&dc->points[p], dr->values[p], true);
				n++;
			} else if (q == Q_GOOD) {
				q = Q_BAD;
			}
		}
		if (dr->state == 0)
			q = Q_STALE;
		char *json = payload_telemetry(dc->id, ts, names, vals, n, q);
		if (json) {
			topic_of(gw, topic, sizeof topic, "telemetry/%s", dc->id);
			mqtt_publish(gw->link, topic, json, cfg->mqtt.telemetry_qos, false, NULL);
			free(json);
		}
next:
		free(names);
		free(vals);
	}
}

int gateway_tick(struct gateway *gw, int64_t now)
{
	const struct config *cfg = gw->cfg;
	int64_t next;

	if (now >= gw->next_flush) {
		store_flush(gw->st);
		gw->next_flush = now + FLUSH_MS;
		/* Status rows added by the batch may wait in the outbox. */
		gw_pump(gw);
	}
	if (now >= gw->next_maintain) {
		store_maintain(gw->st, util_wall_ms());
		gw->next_maintain = now + MAINTAIN_MS;
	}
	bool up = gw->link && mqtt_connected(gw->link);
	if (cfg->mqtt.telemetry_interval_s > 0 && now >= gw->next_telemetry) {
		/* Telemetry waits while the outbox drains: events go first. */
		if (up && !outbox_pending(gw))
			publish_telemetry(gw);
		gw->next_telemetry = now + cfg->mqtt.telemetry_interval_s * 1000;
	}
	if (now >= gw->next_status) {
		if (up)
			publish_status(gw);
		gw->next_status = now + STATUS_MS;
	}
	if (up && gw->active_dirty && !outbox_pending(gw))
		publish_active(gw);

	next = gw->next_flush;
	if (gw->next_maintain < next)
		next = gw->next_maintain;
	if (cfg->mqtt.telemetry_interval_s > 0 && gw->next_telemetry < next)
		next = gw->next_telemetry;
	if (gw->next_status < next)
		next = gw->next_status;
	return next > now ? (int)(next - now) : 0;
}

void gateway_flush(struct gateway *gw)
{
	store_flush(gw->st);
}

const char *gateway_status_topic(const struct gateway *gw)
{
	return gw->status_topic;
}

char *gateway_will_payload(void)
{
	return payload_status_will();
}

char *gateway_shutdown_payload(void)
{
	return payload_status_shutdown(util_wall_ms());
}
