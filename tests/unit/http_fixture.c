/*
 * http_fixture: the fixed store of the status page's unit tests (see
 * http_fixture.h), written through the store's own API as the daemon does.
 */
#include "http_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN 60000LL

struct config *hfx_config(void)
{
	struct config *c = cfg_new(true);

	snprintf(c->devices[0].location, sizeof c->devices[0].location, "%s", HFX_LOCATION);
	snprintf(c->devices[1].location, sizeof c->devices[1].location, "Switch room");
	snprintf(c->devices[1].points[0].unit, sizeof c->devices[1].points[0].unit, "%s", HFX_UNIT);
	c->devices[0].offline_severity = SEV_CRITICAL;
	c->alarms = calloc(1, sizeof *c->alarms);
	if (!c->alarms)
		abort();
	c->nalarms = 1;
	struct alarm_cfg *a = &c->alarms[0];
	snprintf(a->id, sizeof a->id, "b3-fire-pressure-low");
	snprintf(a->point, sizeof a->point, "b3-pressure.pressure");
	a->device = 0;
	a->pt = 0;
	a->when = WHEN_BELOW;
	a->threshold = 0.10;
	a->clear = 0.12;
	a->has_clear = true;
	a->severity = SEV_CRITICAL;
	a->category = CAT_FIRE;
	snprintf(a->message, sizeof a->message, "Fire water pressure low, building 3");
	return c;
}

void hfx_config_free(struct config *c)
{
	free(c->alarms);
	cfg_free(c);
}

static void poll_ok(struct store *st, int dev, int64_t ts, bool ok)
{
	struct store_poll p = { .ts_ms = ts, .ok = ok, .timeouts = ok ? 0 : 1 };

	if (store_device_poll(st, dev, &p) != 0)
		abort();
}

void hfx_store(const struct config *c, const char *path)
{
	struct store *st = open_cfg(path, c);
	int64_t t0 = HFX_NOW - DAY;
	char j[2048], t1[32];

	for (int64_t t = t0; t < HFX_NOW - 10 * MIN; t += MIN) {
		double v = 0.35 + 0.03 * sin((double)(t - t0) / (90.0 * MIN));
		bool stale = t >= HFX_NOW - 12 * HOUR && t < HFX_NOW - 11 * HOUR;
		if (t >= HFX_NOW - 3 * HOUR && t < HFX_NOW - 3 * HOUR + 5 * MIN)
			v = 0.15;   /* a dip that stayed above the threshold */
		store_put_reading(st, 0, 0, t, v, stale ? Q_STALE : Q_GOOD);
		store_put_reading(st, 0, 1, t, (double)((t - t0) / HOUR), stale ? Q_STALE : Q_GOOD);
		store_put_reading(st, 1, 0, t, 12000.0 + (double)(t - t0) / MIN * 0.25, Q_GOOD);
		store_put_reading(st, 1, 1, t, (t / HOUR) % 2 ? 1 : 0, Q_GOOD);
		poll_ok(st, 0, t, !stale);
		if (t % (10 * MIN) == 0)
			store_flush(st);
	}
	for (int64_t t = HFX_NOW - 10 * MIN; t <= HFX_NOW - 1000; t += MIN) {
		store_put_reading(st, 0, 0, t, 0.08, Q_GOOD);
		poll_ok(st, 0, t, true);
	}
	store_put_reading(st, 0, 0, HFX_NOW - 1000, 0.08, Q_GOOD);
	poll_ok(st, 0, HFX_NOW - 1000, true);
	store_device_state(st, 0, t0, true);
	store_device_state(st, 1, t0, true);
	store_device_state(st, 1, HFX_NOW - 5 * MIN, false);
	poll_ok(st, 1, HFX_NOW - 5 * MIN, false);
	store_put_reading(st, 1, 0, HFX_NOW - 5 * MIN, 0, Q_STALE);
	store_put_reading(st, 1, 1, HFX_NOW - 5 * MIN, 0, Q_STALE);

	int64_t raised = HFX_NOW - 10 * MIN;
	snprintf(j, sizeof j,
		 "{\"event_id\":\"gw1-1\",\"seq\":1,\"alarm\":\"b3-fire-pressure-low\","
		 "\"state\":\"raised\",\"severity\":\"critical\",\"category\":\"fire\","
		 "\"point\":\"b3-pressure.pressure\",\"device\":\"b3-pressure\",\"location\":\"%s\","
		 "\"value\":0.08,\"unit\":\"MPa\",\"threshold\":0.1,\"clear\":0.12,"
		 "\"message\":\"Fire water pressure low, building 3\",\"ts\":\"%s\","
		 "\"raised_ts\":\"%s\",\"acked\":false}",
		 "Pump <script>alert(1)</script> room & \\\"east\\\"",
		 util_fmt_time(raised, t1, sizeof t1), t1);
	struct alarm_state s = { .active = true, .cond = true, .pending_since = -1,
				 .raised_ts = raised, .value = 0.08 };
	static const struct store_dest dest = { "mqtt", "yardwatch/mangshi-hs07/gw1/alarm/fire/x" };
	if (store_commit_event(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE,
			       SEV_CRITICAL, raised, j, &s, &dest, 1) != 0)
		abort();
	store_flush(st);
	store_close(st);
}

/* The event of the meter's offline alarm. */
static const char meter_off[] =
	"{\"event_id\":\"gw1-2\",\"seq\":2,\"alarm\":\"b3-meter.offline\",\"state\":\"raised\","
	"\"severity\":\"major\",\"category\":\"power\",\"point\":null,\"device\":\"b3-meter\","
	"\"location\":\"Switch room\",\"value\":null,\"unit\":null,\"threshold\":null,"
	"\"message\":\"Device b3-meter is not answering\",\"ts\":\"2026-11-26T04:05:00.000Z\","
	"\"raised_ts\":\"2026-11-26T04:05:00.000Z\",\"acked\":false}";

/* The pressure alarm's, as hfx_store commits it. */
static const char pressure_low[] =
	"{\"event_id\":\"gw1-1\",\"seq\":1,\"alarm\":\"b3-fire-pressure-low\",\"state\":\"raised\","
	"\"severity\":\"critical\",\"category\":\"fire\",\"point\":\"b3-pressure.pressure\","
	"\"device\":\"b3-pressure\",\"location\":\"Pump <script>alert(1)</script> room & \\\"east\\\"\","
	"\"value\":0.08,\"unit\":\"MPa\",\"threshold\":0.1,\"clear\":0.12,"
	"\"message\":\"Fire water pressure low, building 3\",\"ts\":\"2026-11-26T04:00:00.000Z\","
	"\"raised_ts\":\"2026-11-26T04:00:00.000Z\",\"acked\":false}";

struct http_live *hfx_live(const struct config *c, struct http *h)
{
	struct http_counts counts = { 0 };
	struct http_view *v = h ? NULL : http_view_new(c);
	struct bus_result r;
	struct http_live *l;

	memset(&r, 0, sizeof r);
	r.kind = BUS_RES_POLL;
	r.dev = 0;
	snprintf(r.dev_id, sizeof r.dev_id, "b3-pressure");
	r.ok = true;
	r.exceptions = 2;
	http_counts_add(&counts, c, &r);
	r.ok = false;
	r.exceptions = 0;
	r.timeouts = 3;
	r.dev = 7;   /* an index from an older config: found by id */
	snprintf(r.dev_id, sizeof r.dev_id, "b3-meter");
	http_counts_add(&counts, c, &r);
	l = h ? http_snapshot(h, &counts) : v ? http_live_new(v, &counts) : NULL;
	http_view_unref(v);
	http_counts_free(&counts);
	if (!l)
		abort();
	l->started_ms = HFX_NOW - DAY;
	l->clock_set = true;
	l->bus_polled[0] = true;
	/* b3-pressure online: pressure 0.08 (in alarm), dp 23 */
	l->devs[0].state = 1;
	l->devs[0].last_ok_ms = HFX_NOW - 1000;
	l->values[0] = 0.08;
	l->quality[0] = Q_GOOD;
	l->values[1] = 23;
	l->quality[1] = Q_GOOD;
	l->alarm_active[0] = true;
	/* b3-meter offline for 5 minutes; b9-spare disabled */
	l->devs[1].state = 0;
	l->devs[1].last_ok_ms = HFX_NOW - 6 * 60000;
	l->devs[1].offline_active = true;
	if (http_live_uplink(l, "mqtt", true, 2, 0) != 0 || http_live_event(l, meter_off) != 0 ||
	    http_live_event(l, pressure_low) != 0)
		abort();
	return l;
}
