/*
 * test_query: the read-only query module (daemon/store/query.h) against a
 * store filled through the store API while it is still open (as while the
 * daemon runs): opening (missing file, no schema, newer schema), status
 * counts, devices, points (latest value and quality, stale while the device
 * is not online, the time a read last confirmed it), alarm events (newest
 * first, --since, active), history (archive and journal merged oldest
 * first, inclusive bounds, the value in force at since), the maintenance
 * report's figures, one read snapshot, and a few documents of query_json.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/jsonnum.h"
#include "../../daemon/store.h"
#include "../../daemon/store/query.h"
#include "../../daemon/store/query_json.h"
#include "check.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define NPRESSURE 120          /* pressure readings, one a minute */
#define BAD_AT 60              /* ... of which this one is bad */

static char tmpdir[256];

/* ---- a small store ------------------------------------------------------ */

struct pt_def {
	const char *name;
	enum yw_type type;
	const char *unit;
};

static const struct {
	const char *id;
	int unit;
	bool enabled;
	enum yw_category cat;
	struct pt_def pts[2];
	size_t npts;
} devs[] = {
	{ "b3-pressure", 1, true, CAT_FIRE,
	  { { "pressure", TYPE_FLOAT32, "MPa" }, { "dp", TYPE_INT16, "" } }, 2 },
	{ "b3-meter", 2, true, CAT_POWER,
	  { { "energy", TYPE_FLOAT32, "kWh" }, { "relay", TYPE_BOOL, "" } }, 2 },
	{ "b9-spare", 9, false, CAT_SYSTEM, { { "x", TYPE_INT16, "" } }, 1 },
};
#define NDEVS (sizeof devs / sizeof devs[0])

static struct config *cfg_new(void)
{
	struct config *c = calloc(1, sizeof *c);

	if (!c || !(c->buses = calloc(1, sizeof *c->buses)) ||
	    !(c->devices = calloc(NDEVS, sizeof *c->devices)))
		abort();
	snprintf(c->site_id, sizeof c->site_id, "mangshi-hs07");
	snprintf(c->site_name, sizeof c->site_name, "Huashan Road compound 7");
	snprintf(c->gateway, sizeof c->gateway, "gw1");
	c->retention_days = 90;
	c->max_mb = 256;
	c->nbuses = 1;
	snprintf(c->buses[0].id, sizeof c->buses[0].id, "lan");
	c->buses[0].type = BUS_TCP;
	c->ndevices = NDEVS;
	for (size_t i = 0; i < NDEVS; i++) {
		struct device_cfg *d = &c->devices[i];
		snprintf(d->id, sizeof d->id, "%s", devs[i].id);
		d->unit = devs[i].unit;
		d->poll_ms = 1000;
		d->category = devs[i].cat;
		d->enabled = devs[i].enabled;
		d->offline_after = 3;
		d->offline_severity = SEV_MAJOR;
		d->max_read_regs = 125;
		d->npoints = devs[i].npts;
		if (!(d->points = calloc(d->npoints, sizeof *d->points)))
			abort();
		for (size_t k = 0; k < d->npoints; k++) {
			struct point_cfg *p = &d->points[k];
			snprintf(p->name, sizeof p->name, "%s", devs[i].pts[k].name);
			p->type = devs[i].pts[k].type;
			p->table = p->type == TYPE_BOOL ? TABLE_COIL : TABLE_HOLDING;
			p->bit = -1;
			p->scale = 1;
			p->decimals_from = -1;
			snprintf(p->unit, sizeof p->unit, "%s", devs[i].pts[k].unit);
			p->store_max_interval_s = 300;
		}
	}
	return c;
}

static void cfg_free(struct config *c)
{
	for (size_t d = 0; d < c->ndevices; d++)
		free(c->devices[d].points);
	free(c->devices);
	free(c->buses);
	free(c);
}

static int commit_ev(struct store *st, int64_t seq, const char *alarm, enum alarm_event ev,
		     enum yw_category cat, enum yw_severity sev, int64_t ts, bool active)
{
	struct alarm_state s = { .active = active, .cond = active, .pending_since = -1,
				 .raised_ts = ts, .value = 0.08 };
	char json[512], t[32];

	snprintf(json, sizeof json, "{\"event_id\":\"gw1-%lld\",\"seq\":%lld,\"alarm\":\"%s\","
		 "\"state\":\"%s\",\"ts\":\"%s\"}", (long long)seq, (long long)seq, alarm,
		 alarm_event_name(ev), util_fmt_time(ts, t, sizeof t));
	static const struct store_dest dest = { "mqtt", "p/alarm" };
	return store_commit_event(st, seq, alarm, ev, cat, sev, ts, json, &s, &dest, 1);
}

static double pressure(int i)
{
	return 0.25 + i * 0.005;
}

/* The store the cases read (NOW: the fill's wall clock; BASE: the first
 * pressure reading, 2 h ago):
 * - b3-pressure.pressure: NPRESSURE readings a minute apart from BASE, the
 *   one at BAD_AT bad; flushed one by one, so the older ones are folded into
 *   the archive and the newest are in the journal. dp: 7 at BASE.
 * - b3-meter.energy 1234.5 and relay true 3 h ago; b9-spare.x never read.
 * - b3-pressure online from -20h, offline -6h .. -4h; polls: -30h ok, -5h
 *   failed (2 timeouts, 1 crc), -3h ok with 1 exception, -30min ok.
 *   b3-meter offline from -2h. b9-spare disabled.
 * - events: 1 fire raised -5h, 2 fire cleared -3h, 3 b3-meter.offline
 *   raised -2h (active); one status row in the outbox. */
static struct store *fill(const char *path, const struct config *cfg, int64_t now, int64_t base)
{
	struct store *st = NULL;
	const struct store_poll polls[] = {
		{ now - 30 * HOUR, true, 0, 0, 0, 0, 0 },
		{ now - 5 * HOUR, false, 2, 0, 1, 0, 0 },
		{ now - 3 * HOUR, true, 0, 1, 0, 0, 0 },
		{ now - HOUR / 2, true, 0, 0, 0, 0, 0 },
	};

	if (store_open(path, &st) != 0 || store_configure(st, cfg) != 0)
		abort();
	CHECK(store_put_reading(st, 1, 0, now - 3 * HOUR, 1234.5, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 1, now - 3 * HOUR, 1, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 0, 1, base, 7, Q_GOOD) == 1);
	for (int i = 0; i < NPRESSURE; i++) {
		CHECK(store_put_reading(st, 0, 0, base + i * MIN, pressure(i),
					i == BAD_AT ? Q_BAD : Q_GOOD) == 1);
		CHECK(store_flush(st) == 0);
	}
	for (size_t i = 0; i < sizeof polls / sizeof polls[0]; i++)
		CHECK(store_device_poll(st, 0, &polls[i]) == 0);
	CHECK(store_device_state(st, 0, now - 20 * HOUR, true) == 0);
	CHECK(store_device_state(st, 0, now - 6 * HOUR, false) == 0);
	CHECK(store_device_state(st, 0, now - 4 * HOUR, true) == 0);
	CHECK(store_device_state(st, 1, now - 2 * HOUR, false) == 0);
	CHECK(commit_ev(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			now - 5 * HOUR, true) == 0);
	CHECK(commit_ev(st, 2, "b3-fire-pressure-low", ALARM_EV_CLEARED, CAT_FIRE, SEV_CRITICAL,
			now - 3 * HOUR, false) == 0);
	CHECK(commit_ev(st, 3, "b3-meter.offline", ALARM_EV_RAISED, CAT_SYSTEM, SEV_MAJOR,
			now - 2 * HOUR, true) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/b3-meter/status", "{}", 1, true) == 0);
	CHECK(store_flush(st) == 0);
	return st;
}

/* Both the archive and the journal hold pressure readings (else history's
 * merge is not tested). */
static void check_fill_layout(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t n[2] = { -1, -1 };
	const char *sql[2] = {
		"SELECT count(*) FROM chunk_readings WHERE point_id ="
		" (SELECT id FROM points WHERE point = 'pressure')",
		"SELECT count(*) FROM journal_readings WHERE point_id ="
		" (SELECT id FROM points WHERE point = 'pressure')",
	};

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		abort();
	for (int k = 0; k < 2; k++) {
		if (sqlite3_prepare_v2(db, sql[k], -1, &s, NULL) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_ROW)
			n[k] = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	CHECK(n[0] > 0 && n[1] > 0 && n[0] + n[1] >= NPRESSURE);
}

/* V as compact JSON (malloc'd); V is released. */
static char *dump(json_t *v)
{
	char *doc = v ? jsonnum_dumps(v, QUERY_JSON_FLAGS) : NULL;

	json_decref(v);
	return doc;
}

/* ---- cases -------------------------------------------------------------- */

static void test_open_errors(void)
{
	char path[PATH_MAX], err[PATH_MAX + 512];
	struct query *q = NULL;
	sqlite3 *db;
	FILE *f;

	snprintf(path, sizeof path, "%s/no-such.db", tmpdir);
	CHECK(query_open(path, &q, err, sizeof err) == QUERY_NOT_FOUND && q == NULL);
	CHECK(strstr(err, "no such store") != NULL && strstr(err, path) == err);

	snprintf(path, sizeof path, "%s/empty.db", tmpdir);
	if ((f = fopen(path, "w")))
		fclose(f);
	CHECK(query_open(path, &q, err, sizeof err) == QUERY_NOT_FOUND && q == NULL);
	CHECK(strstr(err, "not a yardwatch store") != NULL);

	snprintf(path, sizeof path, "%s/newer.db", tmpdir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		abort();
	sqlite3_exec(db, "CREATE TABLE x (a); PRAGMA user_version = 42;", NULL, NULL, NULL);
	sqlite3_close(db);
	CHECK(query_open(path, &q, err, sizeof err) == QUERY_ERROR && q == NULL);
	CHECK(strstr(err, "newer") != NULL);
}

static void test_status(struct query *q, int64_t now, int64_t base)
{
	struct query_status s;

	CHECK(query_status(q, &s) == QUERY_OK);
	CHECK(s.site && strcmp(s.site, "mangshi-hs07") == 0);
	CHECK(s.site_name && strcmp(s.site_name, "Huashan Road compound 7") == 0);
	CHECK(s.gateway && strcmp(s.gateway, "gw1") == 0);
	CHECK(s.devices_online == 1 && s.devices_total == 3);
	CHECK(s.alarms_active == 1);
	CHECK(s.outbox_depth == 4);
	CHECK(s.db_bytes > 4096 && s.wal_bytes >= 0 && s.wal_bytes < s.db_bytes);
	CHECK(s.max_bytes == 256LL * 1024 * 1024);
	CHECK(s.first_ts == now - 3 * HOUR);
	CHECK(s.last_ts == base + (NPRESSURE - 1) * MIN);
	CHECK(s.created != QUERY_NO_TIME && s.opened >= s.created && s.opened <= util_wall_ms());
	query_status_free(&s);
}

static void test_devices(struct query *q, int64_t now)
{
	struct query_device *d;
	size_t n;

	CHECK(query_devices(q, &d, &n) == QUERY_OK);
	CHECK(n == 3);
	if (n != 3)
		return;
	CHECK(strcmp(d[0].id, "b3-pressure") == 0 && strcmp(d[0].bus, "lan") == 0);
	CHECK(d[0].unit_id == 1 && strcmp(d[0].state, "online") == 0);
	CHECK(d[0].last_ok == now - HOUR / 2);
	CHECK(d[0].polls == 4 && d[0].errors == 4);
	CHECK(strcmp(d[1].id, "b3-meter") == 0 && strcmp(d[1].state, "offline") == 0);
	CHECK(d[1].last_ok == QUERY_NO_TIME && d[1].polls == 0);
	CHECK(strcmp(d[2].id, "b9-spare") == 0 && strcmp(d[2].state, "disabled") == 0);
	free(d);
}

static void test_points(struct query *q, int64_t now, int64_t base)
{
	struct query_point *p;
	size_t n;
	char *doc;

	CHECK(query_points(q, NULL, &p, &n) == QUERY_OK);
	CHECK(n == 5);
	if (n != 5)
		return;
	CHECK(strcmp(p[0].id, "b3-pressure.pressure") == 0 && strcmp(p[0].unit, "MPa") == 0);
	CHECK(p[0].type == TYPE_FLOAT32 && p[0].latest.quality == Q_GOOD);
	CHECK(p[0].latest.ts == base + (NPRESSURE - 1) * MIN && p[0].latest.has_value);
	CHECK(fabs(p[0].latest.value - pressure(NPRESSURE - 1)) < 1e-9);
	CHECK(p[0].stored_ts == p[0].latest.ts);   /* stored after the last good poll */
	CHECK(strcmp(p[1].id, "b3-pressure.dp") == 0 && p[1].unit[0] == '\0');
	/* stored at BASE, read unchanged by the good poll 30 min ago */
	CHECK(p[1].type == TYPE_INT16 && p[1].latest.value == 7 && p[1].stored_ts == base);
	CHECK(p[1].latest.ts == now - HOUR / 2);
	/* b3-meter is offline: its last values, stale, at their own time */
	CHECK(strcmp(p[2].id, "b3-meter.energy") == 0 && p[2].latest.quality == Q_STALE);
	CHECK(p[2].latest.value == 1234.5 && p[2].latest.ts == now - 3 * HOUR);
	CHECK(p[3].type == TYPE_BOOL && p[3].latest.has_value && p[3].latest.value == 1);
	/* never read */
	CHECK(strcmp(p[4].id, "b9-spare.x") == 0 && p[4].latest.ts == QUERY_NO_TIME);
	CHECK(!p[4].latest.has_value && p[4].latest.quality == Q_STALE);
	doc = dump(query_json_points(p + 4, 1));
	CHECK(doc && strcmp(doc, "[{\"id\":\"b9-spare.x\",\"device\":\"b9-spare\",\"point\":\"x\","
		  "\"value\":null,\"unit\":null,\"ts\":null,\"quality\":\"stale\"}]") == 0);
	free(doc);
	doc = dump(query_json_points(p + 3, 1));
	CHECK(doc && strstr(doc, "\"value\":true") != NULL);
	free(doc);
	/* numbers with the fewest digits: an int16 7 is 7, not 7.0 */
	doc = dump(query_json_points(p + 1, 2));
	CHECK(doc && strstr(doc, "\"value\":7,") != NULL && strstr(doc, "\"value\":1234.5,"));
	free(doc);
	free(p);

	CHECK(query_points(q, "b3-meter", &p, &n) == QUERY_OK && n == 2);
	free(p);
	CHECK(query_points(q, "nosuch", &p, &n) == QUERY_NOT_FOUND && p == NULL && n == 0);
	CHECK(strcmp(query_error(q), "no such device: nosuch") == 0);
}

static void test_alarms(struct query *q, int64_t now)
{
	struct query_event *e;
	size_t n;

	CHECK(query_alarms(q, false, INT64_MIN, &e, &n) == QUERY_OK && n == 3);
	if (n == 3) {
		CHECK(e[0].seq == 3 && e[1].seq == 2 && e[2].seq == 1);
		CHECK(strcmp(e[0].alarm, "b3-meter.offline") == 0 && e[0].ts == now - 2 * HOUR);
		CHECK(strstr(e[1].json, "\"state\":\"cleared\"") != NULL);
	}
	query_events_free(e, n);
	CHECK(query_alarms(q, false, now - 4 * HOUR, &e, &n) == QUERY_OK && n == 2);
	query_events_free(e, n);
	CHECK(query_alarms(q, true, INT64_MIN, &e, &n) == QUERY_OK && n == 1);
	if (n == 1) {
		json_error_t err;
		json_t *ev = query_json_event(&e[0], &err);
		CHECK(strcmp(e[0].alarm, "b3-meter.offline") == 0 && e[0].seq == 3);
		CHECK(ev && json_integer_value(json_object_get(ev, "seq")) == 3);
		json_decref(ev);
	}
	query_events_free(e, n);
	CHECK(query_alarms(q, true, now - HOUR, &e, &n) == QUERY_OK && n == 0);
	query_events_free(e, n);
}

/* The rows of a history into TS[] / Q[] (at most MAX); their count, or -1. */
static int history(struct query *q, const char *point, int64_t since, int64_t until,
		   unsigned flags, int64_t *ts, struct query_reading *rows, int max)
{
	struct query_history *h;
	struct query_reading r;
	int n = 0, rc;

	if (query_history_open(q, point, since, until, flags, &h) != QUERY_OK)
		return -1;
	while ((rc = query_history_next(h, &r)) == 1) {
		if (n < max) {
			ts[n] = r.ts;
			rows[n] = r;
		}
		n++;
	}
	query_history_close(h);
	return rc == 0 ? n : -1;
}

static void test_history(struct query *q, int64_t base)
{
	static const struct {
		const char *name;
		int64_t since, until;      /* offsets from base; INT64_MIN/MAX: none */
		unsigned flags;
		int n;                     /* rows */
		int64_t first;             /* ts of the first, offset from base */
	} cases[] = {
		{ "everything", INT64_MIN, INT64_MAX, 0, NPRESSURE, 0 },
		{ "bounds inclusive", 10 * MIN, 20 * MIN, 0, 11, 10 * MIN },
		{ "between readings", 10 * MIN + 30000, 20 * MIN, 0, 10, 11 * MIN },
		{ "in force", 10 * MIN + 30000, 20 * MIN, QUERY_HISTORY_IN_FORCE, 11, 10 * MIN },
		{ "in force, a reading at since", 10 * MIN, 20 * MIN, QUERY_HISTORY_IN_FORCE, 11,
		  10 * MIN },
		{ "in force, nothing before", -HOUR, 5 * MIN, QUERY_HISTORY_IN_FORCE, 6, 0 },
		{ "in force, the journal's end", (NPRESSURE - 2) * MIN + 30000, INT64_MAX,
		  QUERY_HISTORY_IN_FORCE, 2, (NPRESSURE - 2) * MIN },
		{ "in force, no bound", INT64_MIN, INT64_MAX, QUERY_HISTORY_IN_FORCE, NPRESSURE, 0 },
		{ "empty window", -2 * HOUR, -HOUR, 0, 0, 0 },
	};
	int64_t ts[NPRESSURE + 1];
	struct query_reading rows[NPRESSURE + 1];
	struct query_history *h = NULL;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t since = cases[i].since, until = cases[i].until;
		int n = history(q, "b3-pressure.pressure",
				since == INT64_MIN ? since : base + since,
				until == INT64_MAX ? until : base + until, cases[i].flags, ts,
				rows, NPRESSURE + 1);
		bool rising = true;

		check_case = cases[i].name;
		CHECK(n == cases[i].n);
		if (n <= 0)
			continue;
		CHECK(ts[0] == base + cases[i].first);
		for (int k = 1; k < n && k <= NPRESSURE; k++)
			rising = rising && ts[k] > ts[k - 1];
		CHECK(rising);
	}
	check_case = "";

	/* values and the bad reading, also as the value in force */
	CHECK(history(q, "b3-pressure.pressure", INT64_MIN, INT64_MAX, 0, ts, rows,
		      NPRESSURE + 1) == NPRESSURE);
	CHECK(fabs(rows[5].value - pressure(5)) < 1e-9 && rows[5].quality == Q_GOOD);
	CHECK(!rows[BAD_AT].has_value && rows[BAD_AT].quality == Q_BAD);
	CHECK(history(q, "b3-pressure.pressure", base + BAD_AT * MIN + 1, INT64_MAX,
		      QUERY_HISTORY_IN_FORCE, ts, rows, NPRESSURE + 1) == NPRESSURE - BAD_AT);
	CHECK(ts[0] == base + BAD_AT * MIN && rows[0].quality == Q_BAD);

	CHECK(query_history_open(q, "b3-pressure.dp", INT64_MIN, INT64_MAX, 0, &h) == QUERY_OK);
	CHECK(h && query_history_type(h) == TYPE_INT16 && strcmp(query_history_unit(h), "") == 0);
	query_history_close(h);
	CHECK(query_history_open(q, "b3-pressure.pressure", INT64_MIN, INT64_MAX, 0, &h) ==
	      QUERY_OK);
	CHECK(h && strcmp(query_history_unit(h), "MPa") == 0);
	query_history_close(h);
	CHECK(query_history_open(q, "b3-pressure.nosuch", INT64_MIN, INT64_MAX, 0, &h) ==
	      QUERY_NOT_FOUND && h == NULL);
	CHECK(strcmp(query_error(q), "no such point: b3-pressure.nosuch") == 0);
	CHECK(query_history_open(q, "nodot", INT64_MIN, INT64_MAX, 0, &h) == QUERY_NOT_FOUND);
	CHECK(strstr(query_error(q), "(want DEVICE.POINT)") != NULL);
}

static void test_report(struct query *q, int64_t now)
{
	struct query_report r;
	char *doc;

	CHECK(query_report(q, now - 10 * HOUR, now, &r) == QUERY_OK);
	CHECK(r.since == now - 10 * HOUR && r.until == now);
	CHECK(r.ndevices == 3);
	if (r.ndevices == 3) {
		const struct query_report_device *d = r.devices;
		CHECK(strcmp(d[0].id, "b3-pressure") == 0);
		CHECK(d[0].has_availability && fabs(d[0].availability_pct - 80.0) < 1e-9);
		CHECK(d[0].online_ms == 8 * HOUR && d[0].offline_ms == 2 * HOUR);
		CHECK(d[0].longest_outage_ms == 2 * HOUR);
		CHECK(d[0].polls == 3 && d[0].timeouts == 2 && d[0].exceptions == 1 &&
		      d[0].crc == 1 && d[0].other == 0);
		CHECK(d[1].has_availability && d[1].availability_pct == 0.0);
		CHECK(d[1].longest_outage_ms == 2 * HOUR && d[1].polls == 0);
		CHECK(!d[2].has_availability && d[2].longest_outage_ms == 0);
	}
	CHECK(r.by_category[CAT_FIRE] == 1 && r.by_category[CAT_SYSTEM] == 1);
	CHECK(r.by_category[CAT_POWER] == 0);
	CHECK(r.by_severity[SEV_CRITICAL] == 1 && r.by_severity[SEV_MAJOR] == 1);
	CHECK(r.by_severity[SEV_MINOR] == 0);
	doc = dump(query_json_report(&r));
	CHECK(doc && strstr(doc, "\"availability_pct\":80.0,\"polls\":3,\"failures\":"
			    "{\"timeout\":2,\"exception\":1,\"crc\":1,\"gateway\":0,\"other\":0},"
			    "\"longest_outage_s\":7200}") != NULL);
	CHECK(doc && strstr(doc, "\"by_severity\":{\"critical\":1,\"major\":1,\"minor\":0,"
			    "\"warning\":0}}}") != NULL);
	free(doc);
	query_report_free(&r);

	/* the last 4 h: online throughout, no raise */
	CHECK(query_report(q, now - 4 * HOUR, now, &r) == QUERY_OK && r.ndevices == 3);
	if (r.ndevices == 3)
		CHECK(r.devices[0].availability_pct == 100.0 &&
		      r.devices[0].longest_outage_ms == 0);
	CHECK(r.by_category[CAT_FIRE] == 0 && r.by_category[CAT_SYSTEM] == 1);
	query_report_free(&r);
}

/* Between query_begin and query_end the daemon's new writes are not seen. */
static void test_snapshot(struct query *q, struct store *st, int64_t now)
{
	struct query_point *p;
	size_t n;

	CHECK(query_begin(q) == QUERY_OK);
	CHECK(query_points(q, "b3-pressure", &p, &n) == QUERY_OK && n == 2);
	free(p);
	CHECK(store_put_reading(st, 0, 1, now, 9, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(query_points(q, "b3-pressure", &p, &n) == QUERY_OK && n == 2 &&
	      p[1].latest.value == 7);
	free(p);
	query_end(q);
	CHECK(query_points(q, "b3-pressure", &p, &n) == QUERY_OK && n == 2 &&
	      p[1].latest.value == 9 && p[1].latest.ts == now);
	free(p);
}

/* b3-pressure's two points, their ts and stored_ts; false when not found. */
static bool pressure_points(struct query *q, struct query_point out[2])
{
	struct query_point *p;
	size_t n;
	bool ok = query_points(q, "b3-pressure", &p, &n) == QUERY_OK && n == 2;

	if (ok)
		memcpy(out, p, 2 * sizeof *p);
	free(p);
	return ok;
}

/* The polls still in the journal (not yet folded into the devices table). */
static int64_t journal_polls(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		abort();
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM journal_polls", -1, &s, NULL) ==
	    SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* points' ts is the last read that confirmed the stored reading: the
 * device's last good poll after it, from the journal's polls or, once they
 * are folded, from the devices table; a failed poll confirms nothing; a bad
 * reading is confirmed like a good one; a stale one keeps its own time.
 * After test_snapshot: dp 9 at NOW, pressure's latest a minute before. */
static void test_confirmed(struct query *q, struct store *st, const char *path, int64_t now)
{
	struct store_poll good = { now + 1000, true, 0, 0, 0, 0, 0 };
	struct store_poll bad_poll = { now + 2000, false, 1, 0, 0, 0, 0 };
	struct query_point p[2];

	check_case = "confirmed";
	CHECK(pressure_points(q, p) && p[0].latest.ts == now - MIN && p[1].latest.ts == now);
	CHECK(store_device_poll(st, 0, &good) == 0 && store_flush(st) == 0);
	CHECK(pressure_points(q, p));
	CHECK(p[0].latest.ts == now + 1000 && p[0].stored_ts == now - MIN);
	CHECK(p[1].latest.ts == now + 1000 && p[1].stored_ts == now && p[1].latest.value == 9);
	CHECK(p[0].latest.quality == Q_GOOD && p[1].latest.quality == Q_GOOD);

	/* a failed poll read nothing */
	CHECK(store_device_poll(st, 0, &bad_poll) == 0 && store_flush(st) == 0);
	CHECK(pressure_points(q, p) && p[0].latest.ts == now + 1000 && p[1].latest.ts == now + 1000);

	/* dp refused at +3 s (stored: its quality changed), refused again at +4 s */
	good.ts_ms = now + 3000;
	CHECK(store_put_reading(st, 0, 1, now + 3000, 0, Q_BAD) == 1);
	CHECK(store_device_poll(st, 0, &good) == 0);
	good.ts_ms = now + 4000;
	CHECK(store_put_reading(st, 0, 1, now + 4000, 0, Q_BAD) == 0);
	CHECK(store_device_poll(st, 0, &good) == 0 && store_flush(st) == 0);
	CHECK(pressure_points(q, p));
	CHECK(p[1].latest.quality == Q_BAD && !p[1].latest.has_value);
	CHECK(p[1].latest.ts == now + 4000 && p[1].stored_ts == now + 3000);
	CHECK(p[0].latest.ts == now + 4000);

	/* ten minutes on, the polls are folded into the devices table */
	good.ts_ms = now + 10 * MIN;
	CHECK(store_device_poll(st, 0, &good) == 0 && store_flush(st) == 0);
	CHECK(journal_polls(path) == 0);
	CHECK(pressure_points(q, p) && p[0].latest.ts == now + 10 * MIN &&
	      p[1].latest.ts == now + 10 * MIN);

	/* offline: the points' stale readings keep their own time */
	CHECK(store_device_state(st, 0, now + 11 * MIN, false) == 0);
	CHECK(store_put_reading(st, 0, 0, now + 11 * MIN, 0, Q_STALE) == 1);
	CHECK(store_put_reading(st, 0, 1, now + 11 * MIN, 0, Q_STALE) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(pressure_points(q, p));
	CHECK(p[0].latest.quality == Q_STALE && p[0].latest.ts == now + 11 * MIN);
	CHECK(p[1].latest.quality == Q_STALE && p[1].latest.ts == now + 11 * MIN);
	check_case = "";
}

static void rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

int main(void)
{
	struct config *cfg;
	struct store *st;
	struct query *q = NULL;
	char path[PATH_MAX], err[PATH_MAX + 512];
	int64_t now = util_wall_ms(), base = now - 2 * HOUR;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-query-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_open_errors();

	cfg = cfg_new();
	snprintf(path, sizeof path, "%s/q.db", tmpdir);
	st = fill(path, cfg, now, base);
	check_fill_layout(path);
	CHECK(query_open(path, &q, err, sizeof err) == QUERY_OK && q);
	if (q) {
		test_status(q, now, base);
		test_devices(q, now);
		test_points(q, now, base);
		test_alarms(q, now);
		test_history(q, base);
		test_report(q, now);
		test_snapshot(q, st, now);
		test_confirmed(q, st, path, now);
	} else {
		fprintf(stderr, "query_open: %s\n", err);
	}
	query_close(q);
	store_close(st);
	cfg_free(cfg);
	rm_tmpdir();
	return check_report();
}
