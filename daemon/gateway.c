/*
 * gateway: lifecycle and reload of the gateway state, bus results (readings
 * into the store, device online/offline), device status and the timers
 * (batch commit, retention, telemetry, status refresh). See gw_int.h.
 */
#include "gw_int.h"

/* ---------- helpers ---------- */

void gw_topic_of(const struct uplink_rt *u, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s/", u->prefix);
	if (n < 0 || (size_t)n >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

bool gw_link_up(const struct uplink_rt *u)
{
	return u->link && mqtt_connected(u->link);
}

bool gw_selects(const struct uplink_rt *u, int d, int category)
{
	return config_link_selects(u->cfg, d, category);
}

bool gw_selects_alarm(const struct uplink_rt *u, const char *alarm_id, int category)
{
	const struct config *cfg = u->gw->cfg;
	int a = config_find_alarm(cfg, alarm_id), d = -1;

	if (a >= 0) {
		d = cfg->alarms[a].device;
	} else {
		/* DEVICE.offline */
		char dev[YW_FULLID_MAX];
		const char *dot = strrchr(alarm_id, '.');
		if (dot && (size_t)(dot - alarm_id) < sizeof dev) {
			memcpy(dev, alarm_id, (size_t)(dot - alarm_id));
			dev[dot - alarm_id] = '\0';
			d = config_find_device(cfg, dev);
		}
	}
	return gw_selects(u, d, category);
}

struct pl_value gw_pv_of(const struct point_cfg *p, double v, bool present)
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

const int *gw_alarms_of_point(const struct gateway *gw, int dev, int pt)
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
	gw->seq_fd = -1;
	gw->cfg = cfg;
	gw->st = st;
	if (alloc_runtime(cfg, &gw->devs, &gw->alarms, &gw->pt_alarms) < 0) {
		log_error("gateway", "out of memory");
		free_runtime(cfg->ndevices, cfg->nalarms, gw->devs, gw->alarms, gw->pt_alarms);
		free(gw);
		return NULL;
	}
	if (load_alarm_states(gw) < 0 || gw_events_init(gw) < 0 || gw_links_setup(gw) < 0) {
		gateway_free(gw);
		return NULL;
	}
	int64_t now = util_mono_ms();
	clock_init(YW_BUILD_EPOCH_S * 1000, store_newest_ts(st));
	gw->started_ms = clock_stamp();
	gw->started_unset = !clock_is_set();
	gw->next_flush = now + FLUSH_MS;
	gw->next_maintain = now + 10000;
	gw->next_status = now + STATUS_MS;
	return gw;
}

void gateway_free(struct gateway *gw)
{
	if (!gw)
		return;
	gw_events_free(gw);
	gw_links_free(gw);
	free_runtime(gw->cfg->ndevices, gw->cfg->nalarms, gw->devs, gw->alarms, gw->pt_alarms);
	free(gw);
}

void gateway_attach(struct gateway *gw, struct bus_worker **workers, struct mqtt_link **links,
		    size_t n)
{
	gw->workers = workers;
	for (size_t i = 0; i < gw->nul; i++) {
		struct uplink_rt *u = gw->ul[i];
		struct mqtt_link *l = links && i < n ? links[i] : NULL;
		if (u->link == l)
			continue;
		u->link = l;
		gw_link_reset(u);
		for (size_t h = 0; h < gw->nheld; h++)
			gw->held[h].sent &= ~(1u << i);
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
	/* the links (nothing changes when this fails) */
	const struct config *old = gw->cfg;
	gw->cfg = cfg;
	if (gw_links_setup(gw) < 0) {
		gw->cfg = old;
		free_runtime(cfg->ndevices, cfg->nalarms, devs, alarms, pt_alarms);
		return -1;
	}
	/* Carry device state over by id; point values only when the point list
	 * is the same size (values of a changed device start again). */
	for (size_t d = 0; d < cfg->ndevices; d++) {
		int old_d = config_find_device(old, cfg->devices[d].id);
		if (old_d < 0)
			continue;
		struct dev_rt *o = &gw->devs[old_d], *n = &devs[d];
		n->state = o->state;
		n->last_ok_ms = o->last_ok_ms;
		n->errors = o->errors;
		n->off = o->off;
		n->raised_unset = o->raised_unset;
		n->off_event = o->off_event;
		o->off_event = NULL;
		if (o->npoints == n->npoints) {
			memcpy(n->values, o->values, n->npoints * sizeof *n->values);
			memcpy(n->quality, o->quality, n->npoints);
		}
	}
	/* Alarm state survives a reload when the id is unchanged. */
	for (size_t a = 0; a < cfg->nalarms; a++) {
		int old_a = config_find_alarm(old, cfg->alarms[a].id);
		if (old_a < 0) {
			if (store_alarm_load(gw->st, cfg->alarms[a].id, &alarms[a].st,
					     &alarms[a].event) < 0)
				alarm_state_init(&alarms[a].st);
			continue;
		}
		alarms[a].st = gw->alarms[old_a].st;
		alarms[a].raised_unset = gw->alarms[old_a].raised_unset;
		alarms[a].st.pending_since = -1;
		alarms[a].event = gw->alarms[old_a].event;
		gw->alarms[old_a].event = NULL;
	}
	free_runtime(old->ndevices, old->nalarms, gw->devs, gw->alarms, gw->pt_alarms);
	gw->devs = devs;
	gw->alarms = alarms;
	gw->pt_alarms = pt_alarms;
	for (size_t i = 0; i < gw->nul; i++)
		gw->ul[i]->active_dirty = true;
	return 0;
}

/* ---------- device status ---------- */

/* Device D's status change queued on every link that selects it (a
 * retained topic: only its latest state waits in a link's queue). */
static void device_status(struct gateway *gw, int d, int64_t ts)
{
	struct dev_rt *dr = &gw->devs[d];
	char topic[YW_TEXT_MAX * 4];
	char *json = NULL;

	for (size_t i = 0; i < gw->nul; i++) {
		struct uplink_rt *u = gw->ul[i];
		int64_t flying[OUTBOX_INFLIGHT];
		size_t nf = 0;
		if (!gw_selects(u, d, (int)gw->cfg->devices[d].category))
			continue;
		if (!json)
			json = payload_device_status(dr->id, dr->state == 1, ts, dr->last_ok_ms,
						     dr->errors);
		if (!json)
			return;
		gw_topic_of(u, topic, sizeof topic, "device/%s/status", dr->id);
		for (int k = 0; k < u->ninflight; k++)
			if (u->inflight[k].row > 0)
				flying[nf++] = u->inflight[k].row;
		store_outbox_supersede(gw->st, u->id, PRIO_STATUS, topic, json, 1, flying, nf);
		u->outbox_idle = false;
	}
	free(json);
}

static void set_online(struct gateway *gw, int d, bool online, int64_t ts)
{
	struct dev_rt *dr = &gw->devs[d];
	const struct device_cfg *dc = &gw->cfg->devices[d];
	int64_t raised = dr->off.raised_ts;
	bool changed = dr->state != (online ? 1 : 0);

	if (changed) {
		dr->state = online ? 1 : 0;
		log_info("poll", "%s (unit %d) is %s", dc->id, dc->unit,
			 online ? "online" : "offline");
		store_device_state(gw->st, d, ts, online);
		device_status(gw, d, ts);
		if (!online) {
			/* Points of an offline device are stale from now on, and
			 * their alarms see it: a stale reading cancels a pending
			 * raise or clear, so the delay starts again with the first
			 * good reading after the outage (alarm.h). */
			for (size_t p = 0; p < dc->npoints; p++) {
				dr->quality[p] = Q_STALE;
				store_put_reading(gw->st, d, (int)p, ts, 0, Q_STALE);
				gw_eval_alarms(gw, d, (int)p, 0, Q_STALE, ts);
			}
		}
	}
	/* The offline alarm follows the device state; its state changes only
	 * with a recorded event (else the next poll tries again). */
	struct alarm_state next = dr->off;
	enum alarm_event ev = alarm_offline(&next, !online, ts);
	if (ev == ALARM_EV_NONE ||
	    gw_emit_offline(gw, d, ev, ts, ev == ALARM_EV_RAISED ? next.raised_ts :
					   (raised ? raised : ts), &next, true) >= 0) {
		if (ev == ALARM_EV_RAISED)
			dr->raised_unset = !clock_is_set();
		dr->off = next;
	}
	/* The status row went into the open batch; the sender reads the
	 * outbox on this connection and would see it uncommitted (and send
	 * it even if the batch were then dropped). Commit it now: a device
	 * changes state rarely, and an event above has usually committed
	 * the batch already (then this costs nothing). */
	if (changed && gw->nul)
		store_flush(gw->st);
}

/* ---------- results ---------- */

static void on_poll(struct gateway *gw, const struct bus_result *r)
{
	const struct device_cfg *dc = &gw->cfg->devices[r->dev];
	struct dev_rt *dr = &gw->devs[r->dev];
	struct store_poll sp = {
		.ts_ms = r->ts_ms, .ok = r->ok, .timeouts = r->timeouts,
		.exceptions = r->exceptions, .crc = r->crc, .gateway = r->gateway, .other = r->other,
	};

	store_device_poll(gw->st, r->dev, &sp);
	dr->errors += r->timeouts + r->exceptions + r->crc + r->gateway + r->other;
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
		gw_eval_alarms(gw, r->dev, (int)p, v, q, r->ts_ms);
	}
}

/* The index in the gateway's config of the device of R: a worker kept over
 * a reload numbers the devices as the config it was started with did, so
 * the id decides (the index is tried first). -1 when the device is gone. */
static int result_device(const struct gateway *gw, const struct bus_result *r)
{
	const struct config *cfg = gw->cfg;

	if (r->dev >= 0 && (size_t)r->dev < cfg->ndevices &&
	    strcmp(cfg->devices[r->dev].id, r->dev_id) == 0)
		return r->dev;
	return config_find_device(cfg, r->dev_id);
}

void gateway_on_result(struct gateway *gw, const struct bus_result *r)
{
	/* Stamped here, by the one clock of the gateway (never going back),
	 * rather than by the worker's look at the wall clock. */
	struct bus_result rr = *r;
	rr.dev = result_device(gw, r);
	rr.ts_ms = clock_stamp();
	if (r->kind == BUS_RES_CMD) {
		gw_cmd_on_result(gw, &rr);
		return;
	}
	/* a poll of a device that is gone, or was redefined: dropped */
	if (rr.dev >= 0 && r->npoints == gw->cfg->devices[rr.dev].npoints)
		on_poll(gw, &rr);
}

/* ---------- timers ---------- */

/* Telemetry of the devices U selects. */
static void publish_telemetry(struct uplink_rt *u)
{
	struct gateway *gw = u->gw;
	const struct config *cfg = gw->cfg;
	char topic[YW_TEXT_MAX * 4];
	int64_t ts = clock_stamp();

	for (size_t d = 0; d < cfg->ndevices; d++) {
		const struct device_cfg *dc = &cfg->devices[d];
		struct dev_rt *dr = &gw->devs[d];
		const char **names;
		struct pl_value *vals;
		size_t n = 0;
		enum yw_quality q = Q_GOOD;

		if (!dc->enabled || dr->state == -1 || !gw_selects(u, (int)d, (int)dc->category))
			continue;
		names = malloc((dc->npoints ? dc->npoints : 1) * sizeof *names);
		vals = malloc((dc->npoints ? dc->npoints : 1) * sizeof *vals);
		if (!names || !vals)
			goto next;
		for (size_t p = 0; p < dc->npoints; p++) {
			if (dr->state == 1 && dr->quality[p] == Q_GOOD) {
				names[n] = dc->points[p].name;
				vals[n] = gw_pv_of(&dc->points[p], dr->values[p], true);
				n++;
			} else if (q == Q_GOOD) {
				q = Q_BAD;
			}
		}
		if (dr->state == 0)
			q = Q_STALE;
		char *json = payload_telemetry(dc->id, ts, names, vals, n, q);
		if (json) {
			gw_topic_of(u, topic, sizeof topic, "telemetry/%s", dc->id);
			mqtt_publish(u->link, topic, json, u->cfg->telemetry_qos, false, NULL);
			free(json);
		}
next:
		free(names);
		free(vals);
	}
}

/* The wall clock has just been set: the stamps given while it was not were
 * off by DELTA. Alarms raised meanwhile get their corrected raise time (the
 * next event of each carries it), and so does the start time. */
static void clock_was_set(struct gateway *gw, int64_t delta)
{
	for (size_t a = 0; a < gw->cfg->nalarms; a++)
		if (gw->alarms[a].raised_unset) {
			gw->alarms[a].st.raised_ts += delta;
			gw->alarms[a].raised_unset = false;
		}
	for (size_t d = 0; d < gw->cfg->ndevices; d++)
		if (gw->devs[d].raised_unset) {
			gw->devs[d].off.raised_ts += delta;
			gw->devs[d].raised_unset = false;
		}
	if (gw->started_unset) {
		gw->started_ms += delta;
		gw->started_unset = false;
	}
	gw_publish_status_all(gw);
}

int gateway_tick(struct gateway *gw, int64_t now)
{
	int64_t next, delta;

	if (clock_poll(&delta))
		clock_was_set(gw, delta);

	if (now >= gw->next_flush) {
		store_flush(gw->st);
		if (gw->nheld)
			gw_store_held(gw);
		gw->next_flush = now + FLUSH_MS;
		/* Status rows added by the batch may wait in the queues. */
		gw_pump_all(gw);
	}
	if (now >= gw->next_maintain) {
		/* no retention by age while the stamps are estimates */
		if (clock_is_set())
			store_maintain(gw->st, clock_stamp());
		gw->next_maintain = now + MAINTAIN_MS;
	}
	next = gw->next_flush;
	for (size_t i = 0; i < gw->nul; i++) {
		struct uplink_rt *u = gw->ul[i];
		int iv = u->cfg->telemetry_interval_s;
		bool up = gw_link_up(u);
		if (iv > 0 && now >= u->next_telemetry) {
			/* Telemetry waits while the queue drains: events go first. */
			if (up && !gw_outbox_pending(u))
				publish_telemetry(u);
			u->next_telemetry = now + iv * 1000;
		}
		if (up && now >= gw->next_status)
			gw_publish_status(u);
		if (up && u->active_dirty && !gw_outbox_pending(u))
			gw_publish_active(u);
		if (iv > 0 && u->next_telemetry < next)
			next = u->next_telemetry;
	}
	if (now >= gw->next_status)
		gw->next_status = now + STATUS_MS;
	if (gw->next_maintain < next)
		next = gw->next_maintain;
	if (gw->next_status < next)
		next = gw->next_status;
	return next > now ? (int)(next - now) : 0;
}

void gateway_flush(struct gateway *gw)
{
	store_flush(gw->st);
}


char *gateway_will_payload(void)
{
	return payload_status_will();
}

char *gateway_shutdown_payload(void)
{
	return payload_status_shutdown(clock_stamp());
}
