/*
 * test_store: the store (schema and migration, deadband / max interval /
 * quality rules, retention by age and by size, event sequence, durable event
 * commit, outbox, device statistics, config binding) and the `yardwatch`
 * command line run with popen against a store filled through the store API
 * while it is still open (as while the daemon runs).
 *
 * Readings and poll outcomes go to the journal ring first and are folded
 * into the packed archive (chunks) every STORE_FOLD_MS of data time (5 min):
 * test_journal covers the fold rules, test_migrate_v1 the upgrade of a
 * version-1 store.
 *
 * The store is checked through a second SQLite connection; the command
 * line's JSON through SQLite's json_extract on an in-memory connection, so
 * this test needs nothing but yw_store. The binary is $YW_BIN/yardwatch
 * (ctest sets YW_BIN); the CLI cases fail when it is missing.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemon/store.h"
#include "check.h"



#define HOUR 3600000LL
#define DAY 86400000LL

static char tmpdir[256];

/* ---- helpers ------------------------------------------------------------ */

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
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

/* A second connection for checking what the store wrote. */
static sqlite3 *peek_open(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "cannot open %s\n", path);
		abort();
	}
	return db;
}

/* One integer from SQL (printf-style), -999999 on error or no row. */
static int64_t q_int(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *s;
	int64_t v = -999999;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "bad SQL %s: %s\n", sql, sqlite3_errmsg(db));
		return v;
	}
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static double q_real(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *s;
	double v = NAN;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return v;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_double(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* One text from SQL into BUF ("(null)" for NULL). */
static char *q_text(sqlite3 *db, char *buf, size_t len, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	snprintf(buf, len, "(error)");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return buf;
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, len, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(s);
	return buf;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "SQL %s: %s\n", sql, sqlite3_errmsg(db));
		abort();
	}
}

/* ---- a config built in C (config.c is not linked here) ------------------ */

static void add_point(struct device_cfg *d, const char *name, enum yw_type type, const char *unit,
		      double deadband, int max_interval_s)
{
	struct point_cfg *p = &d->points[d->npoints++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	p->table = type == TYPE_BOOL ? TABLE_COIL : TABLE_HOLDING;
	p->type = type;
	p->bit = -1;
	p->scale = 1;
	p->decimals_from = -1;
	snprintf(p->unit, sizeof p->unit, "%s", unit);
	p->deadband = deadband;
	p->store_max_interval_s = max_interval_s;
}

static void add_device(struct config *c, const char *id, int unit, bool enabled,
		       enum yw_category cat)
{
	struct device_cfg *d = &c->devices[c->ndevices++];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "%s", id);
	d->bus = 0;
	d->unit = unit;
	d->poll_ms = 1000;
	d->category = cat;
	d->enabled = enabled;
	d->offline_after = 3;
	d->offline_severity = SEV_MAJOR;
	d->max_read_regs = 125;
	d->points = calloc(4, sizeof *d->points);
	if (!d->points)
		abort();
}

/* Devices: 0 b3-pressure (pressure: float32 MPa deadband 0.01; dp: int16),
 * 1 b3-meter (energy: float32 kWh, max interval 60 s; relay: bool),
 * 2 b9-spare (disabled; x: int16). */
static struct config *cfg_new(bool with_meter)
{
	struct config *c = calloc(1, sizeof *c);

	if (!c)
		abort();
	snprintf(c->site_id, sizeof c->site_id, "mangshi-hs07");
	snprintf(c->site_name, sizeof c->site_name, "Huashan Road compound 7");
	snprintf(c->gateway, sizeof c->gateway, "gw1");
	c->retention_days = 90;
	c->max_mb = 256;
	c->buses = calloc(1, sizeof *c->buses);
	c->devices = calloc(3, sizeof *c->devices);
	if (!c->buses || !c->devices)
		abort();
	c->nbuses = 1;
	snprintf(c->buses[0].id, sizeof c->buses[0].id, "lan");
	c->buses[0].type = BUS_TCP;
	c->buses[0].port = 502;

	add_device(c, "b3-pressure", 1, true, CAT_FIRE);
	snprintf(c->devices[0].location, sizeof c->devices[0].location, "Building 3 pump room");
	add_point(&c->devices[0], "pressure", TYPE_FLOAT32, "MPa", 0.01, 300);
	add_point(&c->devices[0], "dp", TYPE_INT16, "", 0, 300);
	if (with_meter) {
		add_device(c, "b3-meter", 2, true, CAT_POWER);
		add_point(&c->devices[1], "energy", TYPE_FLOAT32, "kWh", 0, 60);
		add_point(&c->devices[1], "relay", TYPE_BOOL, "", 0, 300);
	}
	add_device(c, "b9-spare", 9, false, CAT_SYSTEM);
	add_point(&c->devices[c->ndevices - 1], "x", TYPE_INT16, "", 0, 300);
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

static struct store *open_cfg(const char *path, const struct config *cfg)
{
	struct store *st = NULL;
	if (store_open(path, &st) != 0 || !st) {
		fprintf(stderr, "store_open %s failed\n", path);
		abort();
	}
	if (store_configure(st, cfg) != 0) {
		fprintf(stderr, "store_configure failed\n");
		abort();
	}
	return st;
}

static char *event_json(int64_t seq, const char *alarm, const char *state, const char *sev,
			const char *cat, int64_t ts, int64_t raised, double value)
{
	char t1[32], t2[32];
	char *j = malloc(1024);
	if (!j)
		abort();
	snprintf(j, 1024, "{\"event_id\":\"gw1-%lld\",\"seq\":%lld,\"alarm\":\"%s\",\"state\":\"%s\","
		 "\"severity\":\"%s\",\"category\":\"%s\",\"point\":null,\"device\":\"b3\","
		 "\"location\":null,\"value\":%.15g,\"unit\":null,\"threshold\":null,"
		 "\"message\":null,\"ts\":\"%s\",\"raised_ts\":\"%s\",\"acked\":false}",
		 (long long)seq, (long long)seq, alarm, state, sev, cat, value,
		 util_fmt_time(ts, t1, sizeof t1), util_fmt_time(raised, t2, sizeof t2));
	return j;
}

static int commit_ev(struct store *st, int64_t seq, const char *alarm, enum alarm_event ev,
		     enum yw_category cat, enum yw_severity sev, int64_t ts, bool active)
{
	static const char *const evn[] = { "none", "raised", "cleared", "acked" };
	static const char *const catn[] = { "fire", "power", "water", "lighting", "security",
		"gas", "elevator", "structure", "environment", "system" };
	static const char *const sevn[] = { "critical", "major", "minor", "warning" };
	struct alarm_state s = { .active = active, .acked = false, .cond = active,
				 .pending_since = -1, .raised_ts = ts, .value = 0.08 };
	char topic[128];
	char *j = event_json(seq, alarm, evn[ev], sevn[sev], catn[cat], ts, ts, 0.08);
	int r;

	snprintf(topic, sizeof topic, "yardwatch/mangshi-hs07/gw1/alarm/%s/%s", catn[cat], alarm);
	r = store_commit_event(st, seq, alarm, ev, cat, sev, ts, j, &s, topic);
	free(j);
	return r;
}

/* ---- schema and migration ------------------------------------------------ */

static void check_schema(const char *path)
{
	sqlite3 *db = peek_open(path);
	char buf[64];

	CHECK(q_int(db, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
	CHECK(q_int(db, "PRAGMA auto_vacuum") == 2);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "PRAGMA journal_mode"), "wal") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
		    "('meta','devices','points','chunks','journal','nums','bytemap','device_log',"
		    "'device_stats','alarm_state','events','outbox')") == 12);
	CHECK(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'view' AND name IN "
		    "('readings_all','chunk_readings','journal_readings','journal_polls')") == 4);
	CHECK(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
		    "('readings','readings_new')") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM nums") == 4096);
	CHECK(q_int(db, "SELECT value FROM meta WHERE key = 'journal_base'") >= 0);
	CHECK(q_int(db, "SELECT count(*) FROM meta WHERE key = 'created'") == 1);
	sqlite3_close(db);
}

static void test_schema(void)
{
	char path[PATH_MAX];
	struct store *st = NULL;
	sqlite3 *db;
	int64_t created;

	/* New file: small pages (every commit writes whole pages). */
	path_of(path, sizeof path, "new.db");
	CHECK(store_open(path, &st) == 0 && st);
	store_close(st);
	check_schema(path);
	db = peek_open(path);
	CHECK(q_int(db, "PRAGMA page_size") == 1024);
	created = q_int(db, "SELECT value FROM meta WHERE key = 'created'");
	sqlite3_close(db);
	/* Reopening an existing store changes nothing in its schema. */
	st = NULL;
	CHECK(store_open(path, &st) == 0 && st);
	store_close(st);
	check_schema(path);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT value FROM meta WHERE key = 'created'") == created);
	sqlite3_close(db);

	/* Version 0: an empty (0-byte) file. */
	path_of(path, sizeof path, "empty.db");
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	st = NULL;
	CHECK(store_open(path, &st) == 0 && st);
	store_close(st);
	check_schema(path);

	/* Version 0: a SQLite file with pages but no tables (auto_vacuum off). */
	path_of(path, sizeof path, "v0.db");
	sqlite3_open(path, &db);
	exec_sql(db, "CREATE TABLE scratch (a); DROP TABLE scratch; PRAGMA user_version = 0;");
	CHECK(q_int(db, "PRAGMA auto_vacuum") == 0);
	sqlite3_close(db);
	st = NULL;
	CHECK(store_open(path, &st) == 0 && st);
	store_close(st);
	check_schema(path);

	/* Version 0: a pre-existing file with a foreign table: kept. */
	path_of(path, sizeof path, "foreign.db");
	sqlite3_open(path, &db);
	exec_sql(db, "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('keep me');");
	sqlite3_close(db);
	st = NULL;
	CHECK(store_open(path, &st) == 0 && st);
	store_close(st);
	check_schema(path);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM notes") == 1);
	sqlite3_close(db);

	/* A newer schema than ours is refused, the file left alone. */
	path_of(path, sizeof path, "newer.db");
	sqlite3_open(path, &db);
	exec_sql(db, "PRAGMA user_version = 99; CREATE TABLE x (a);");
	sqlite3_close(db);
	st = NULL;
	fprintf(stderr, "(an error about schema version 99 is expected)\n");
	CHECK(store_open(path, &st) == -1 && st == NULL);
	db = peek_open(path);
	CHECK(q_int(db, "PRAGMA user_version") == 99);
	sqlite3_close(db);

	/* Not a database. */
	path_of(path, sizeof path, "garbage.db");
	f = fopen(path, "w");
	if (f) {
		for (int i = 0; i < 200; i++)
			fputs("this is not an sqlite file ", f);
		fclose(f);
	}
	st = NULL;
	fprintf(stderr, "(an error about garbage.db is expected)\n");
	CHECK(store_open(path, &st) == -1 && st == NULL);
}

/* ---- readings -------------------------------------------------------------- */

struct reading_case {
	int dev, pt;
	int64_t dt_ms;          /* from the test's base time */
	double value;
	enum yw_quality q;
	int want;               /* store_put_reading's answer */
};

static void test_readings(void)
{
	static const struct reading_case cases[] = {
		/* pressure, deadband 0.01: first stored, within deadband skipped,
		 * measured from the last STORED value, beyond stored. */
		{ 0, 0, 0, 0.300, Q_GOOD, 1 },
		{ 0, 0, 1000, 0.305, Q_GOOD, 0 },
		{ 0, 0, 2000, 0.309, Q_GOOD, 0 },
		{ 0, 0, 3000, 0.291, Q_GOOD, 0 },
		{ 0, 0, 4000, 0.311, Q_GOOD, 1 },
		{ 0, 0, 5000, 0.300, Q_GOOD, 1 },
		/* max interval 300 s forces a store of an unchanged value */
		{ 0, 0, 304999, 0.300, Q_GOOD, 0 },
		{ 0, 0, 305000, 0.300, Q_GOOD, 1 },
		/* dp, deadband 0: any change */
		{ 0, 1, 0, 5, Q_GOOD, 1 },
		{ 0, 1, 1000, 5, Q_GOOD, 0 },
		{ 0, 1, 2000, 6, Q_GOOD, 1 },
		/* quality changes are stored; repeats of bad/stale are not */
		{ 0, 1, 3000, 6, Q_BAD, 1 },
		{ 0, 1, 4000, 7, Q_BAD, 0 },
		{ 0, 1, 5000, 0, Q_STALE, 1 },
		{ 0, 1, 6000, 0, Q_STALE, 0 },
		{ 0, 1, 7000, 6, Q_GOOD, 1 },
		/* NaN is stored as bad, never as a number */
		{ 0, 1, 8000, NAN, Q_GOOD, 1 },
		{ 0, 1, 9000, 6, Q_GOOD, 1 },
		/* the clock went back: stored */
		{ 0, 1, 500, 6, Q_GOOD, 1 },
		/* energy, max interval 60 s */
		{ 1, 0, 0, 100, Q_GOOD, 1 },
		{ 1, 0, 59999, 100, Q_GOOD, 0 },
		{ 1, 0, 60000, 100, Q_GOOD, 1 },
		{ 1, 0, 61000, 100.5, Q_GOOD, 1 },
		/* bool */
		{ 1, 1, 0, 1, Q_GOOD, 1 },
		{ 1, 1, 1000, 1, Q_GOOD, 0 },
		{ 1, 1, 2000, 0, Q_GOOD, 1 },
		/* unknown points are errors */
		{ 0, 2, 0, 1, Q_GOOD, -1 },
		{ 3, 0, 0, 1, Q_GOOD, -1 },
		{ -1, 0, 0, 1, Q_GOOD, -1 },
	};
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	sqlite3 *db;
	int64_t base = 1760000000000LL;

	path_of(path, sizeof path, "readings.db");
	st = open_cfg(path, cfg);
	fprintf(stderr, "(three errors about unknown points are expected)\n");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct reading_case *c = &cases[i];
		int r = store_put_reading(st, c->dev, c->pt, base + c->dt_ms, c->value, c->q);
		if (r != c->want)
			fprintf(stderr, "reading case %zu: got %d, want %d\n", i, r, c->want);
		CHECK(r == c->want);
	}
	CHECK(store_flush(st) == 0);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all r JOIN points p ON p.id = r.point_id "
		    "WHERE p.device = 'b3-pressure' AND p.point = 'pressure'") == 4);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all r JOIN points p ON p.id = r.point_id "
		    "WHERE p.point = 'dp' AND r.value IS NULL") == 3);
	CHECK(fabs(q_real(db, "SELECT value FROM readings_all r JOIN points p ON p.id = r.point_id "
			  "WHERE p.point = 'pressure' AND r.ts = %lld", (long long)(base + 4000)) -
		   0.311) < 1e-12);
	CHECK(q_int(db, "SELECT quality FROM readings_all r JOIN points p ON p.id = r.point_id "
		    "WHERE p.point = 'dp' AND r.ts = %lld", (long long)(base + 8000)) == Q_BAD);
	CHECK(q_int(db, "SELECT quality FROM readings_all r JOIN points p ON p.id = r.point_id "
		    "WHERE p.point = 'dp' AND r.ts = %lld", (long long)(base + 5000)) == Q_STALE);
	sqlite3_close(db);

	/* After a restart the last stored value still decides. */
	store_close(st);
	st = open_cfg(path, cfg);
	CHECK(store_put_reading(st, 0, 0, base + 306000, 0.305, Q_GOOD) == 0);
	CHECK(store_put_reading(st, 0, 0, base + 307000, 0.315, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 1, base + 3000, 0, Q_GOOD) == 0);

	/* A reading is visible to another connection after the flush, not before. */
	CHECK(store_put_reading(st, 1, 0, base + 62000, 101, Q_GOOD) == 1);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE value = 101") == 0);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE value = 101") == 1);

	/* New readings go to the journal and, when it is folded (here: the
	 * readings span more than 5 minutes of data time), to the archive;
	 * nothing is lost or doubled, and the deadband keeps working across the
	 * fold. Every point is due: energy has many readings, the others'
	 * oldest reading is more than an hour older than the newest. */
	int64_t before = q_int(db, "SELECT count(*) FROM readings_all");
	CHECK(q_int(db, "SELECT count(*) FROM journal_readings") == before);
	CHECK(q_int(db, "SELECT count(*) FROM chunks") == 0);
	for (int i = 0; i < 5000; i++)
		CHECK(store_put_reading(st, 1, 0, base + 100000 + i * 1000LL, 200 + i, Q_GOOD) == 1);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == before);  /* not flushed */
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == before + 5000);
	CHECK(q_int(db, "SELECT count(*) FROM journal_readings") == 0);
	CHECK(q_int(db, "SELECT sum(n) FROM chunks") == before + 5000);
	CHECK(q_int(db, "SELECT count(*) FROM (SELECT DISTINCT point_id, ts FROM readings_all)") ==
	      before + 5000);
	CHECK(q_int(db, "SELECT max(n) FROM chunks") <= 1024);
	/* A point's chunks never overlap in time. */
	CHECK(q_int(db, "SELECT count(*) FROM chunks a JOIN chunks b ON a.point_id = b.point_id"
		    " AND a.t0 < b.t0 AND a.t1 >= b.t0") == 0);
	CHECK(q_int(db, "SELECT sum(value) FROM readings_all r JOIN points p ON p.id = r.point_id"
		    " WHERE p.point = 'energy' AND r.ts >= %lld", (long long)(base + 100000)) ==
	      5000 * 200 + 4999 * 5000 / 2);
	CHECK(store_put_reading(st, 1, 0, base + 100000 + 5000 * 1000LL, 200 + 4999, Q_GOOD) == 0);
	CHECK(store_put_reading(st, 1, 0, base + 100000 + 5001 * 1000LL, 1, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal_readings") == 1);
	sqlite3_close(db);
	store_close(st);

	/* After a restart the last value comes from the journal when it is there. */
	st = open_cfg(path, cfg);
	CHECK(store_put_reading(st, 1, 0, base + 100000 + 5002 * 1000LL, 1, Q_GOOD) == 0);
	CHECK(store_put_reading(st, 0, 0, base + 307500, 0.315, Q_GOOD) == 0);
	store_close(st);
	cfg_free(cfg);
}

/* ---- configuration binding ------------------------------------------------ */

static void test_configure(void)
{
	struct config *full = cfg_new(true), *less = cfg_new(false);
	char path[PATH_MAX], buf[64];
	struct store *st;
	sqlite3 *db;
	int64_t now = util_wall_ms();

	path_of(path, sizeof path, "configure.db");
	st = open_cfg(path, full);
	CHECK(store_put_reading(st, 1, 0, now, 5, Q_GOOD) == 1);
	CHECK(store_device_state(st, 1, now, true) == 0);
	CHECK(store_flush(st) == 0);
	db = peek_open(path);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT value FROM meta WHERE key = 'site'"),
		     "mangshi-hs07") == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT value FROM meta WHERE key = 'gateway'"),
		     "gw1") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM devices") == 3);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT state FROM devices WHERE id = 'b9-spare'"),
		     "disabled") == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT state FROM devices WHERE id = 'b3-pressure'"),
		     "offline") == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT bus FROM devices WHERE id = 'b3-meter'"),
		     "lan") == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT type FROM points WHERE point = 'relay'"),
		     "bool") == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT unit FROM points WHERE point = 'energy'"),
		     "kWh") == 0);

	/* Reload without b3-meter: its rows stay, marked removed, with history. */
	CHECK(store_configure(st, less) == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT state FROM devices WHERE id = 'b3-meter'"),
		     "removed") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM points WHERE device = 'b3-meter' AND removed = 1") == 2);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all r JOIN points p ON p.id = r.point_id "
		    "WHERE p.device = 'b3-meter'") == 1);
	CHECK(q_int(db, "SELECT online FROM device_log WHERE device = 'b3-meter' "
		    "ORDER BY rowid DESC LIMIT 1") == -1);
	/* Indices now follow the smaller config: device 1 is b9-spare. */
	CHECK(store_put_reading(st, 1, 0, now, 3, Q_GOOD) == 1);
	fprintf(stderr, "(an error about an unknown point is expected)\n");
	CHECK(store_put_reading(st, 2, 0, now, 3, Q_GOOD) == -1);

	/* And back: the device returns, its state offline until it answers. */
	CHECK(store_configure(st, full) == 0);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT state FROM devices WHERE id = 'b3-meter'"),
		     "offline") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM points WHERE removed = 1") == 0);
	CHECK(store_put_reading(st, 1, 0, now + 1000, 5, Q_GOOD) == 0);
	sqlite3_close(db);
	store_close(st);
	cfg_free(full);
	cfg_free(less);
}

/* ---- retention ------------------------------------------------------------ */

static void test_retention_age(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	sqlite3 *db;
	int64_t now = util_wall_ms();

	cfg->retention_days = 1;
	path_of(path, sizeof path, "age.db");
	st = open_cfg(path, cfg);
	for (int i = 0; i < 100; i++) {
		CHECK(store_put_reading(st, 0, 1, now - 3 * DAY + i * 1000, i, Q_GOOD) == 1);
		CHECK(store_put_reading(st, 1, 0, now - 2 * DAY + i * 1000, i, Q_GOOD) == 1);
		CHECK(store_put_reading(st, 1, 0, now - HOUR + i * 1000, 1000 + i, Q_GOOD) == 1);
	}
	struct store_poll p = { now - 3 * DAY, true, 0, 0, 0, 0, 0 };
	CHECK(store_device_poll(st, 0, &p) == 0);
	p.ts_ms = now - HOUR;
	CHECK(store_device_poll(st, 0, &p) == 0);
	CHECK(commit_ev(st, 1, "old-alarm", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			now - 3 * DAY, true) == 0);
	CHECK(store_outbox_add(st, PRIO_STATUS, "t/old", "{}", 1, true) == 0);
	CHECK(store_flush(st) == 0);
	CHECK(store_maintain(st, now) == 0);

	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == 100);
	CHECK(q_int(db, "SELECT min(ts) FROM readings_all") == now - HOUR);
	CHECK(q_int(db, "SELECT count(*) FROM events") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM alarm_state") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == 2);
	CHECK(q_int(db, "SELECT count(*) FROM device_stats") == 1);
	/* The device log keeps the state at the cutoff. */
	CHECK(q_int(db, "SELECT count(*) FROM device_log WHERE device = 'b3-pressure'") == 1);
	sqlite3_close(db);
	store_close(st);
	cfg_free(cfg);
}

static void test_retention_size(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	sqlite3 *db;
	int64_t base = util_wall_ms() - 5 * HOUR, used;
	const int n = 60000;      /* packed: about 2 MB */

	path_of(path, sizeof path, "size.db");
	st = open_cfg(path, cfg);
	for (int i = 0; i < n; i++) {
		int64_t ts = base + (int64_t)i * 100;
		store_put_reading(st, 0, 0, ts, i * 0.1, Q_GOOD);
		store_put_reading(st, 0, 1, ts, i, Q_GOOD);
		store_put_reading(st, 1, 0, ts, i * 2.5, Q_GOOD);
		store_put_reading(st, 1, 1, ts, i % 2, Q_GOOD);
	}
	for (int i = 1; i <= 5; i++)
		CHECK(commit_ev(st, i, "a", ALARM_EV_RAISED, CAT_WATER, SEV_MINOR, base + i, true) == 0);
	CHECK(store_outbox_add(st, PRIO_STATUS, "t/x", "{\"a\":1}", 1, true) == 0);
	CHECK(store_flush(st) == 0);

	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == 4 * n);
	used = q_int(db, "SELECT (SELECT page_count FROM pragma_page_count()) - "
		     "(SELECT freelist_count FROM pragma_freelist_count())") *
		q_int(db, "PRAGMA page_size");
	CHECK(used > 1536 * 1024);

	/* As after a reload: the journal shrinks with max_mb (32 KB here). */
	cfg->max_mb = 1;
	CHECK(store_configure(st, cfg) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal") == 32);
	used = q_int(db, "SELECT (SELECT page_count FROM pragma_page_count()) - "
		     "(SELECT freelist_count FROM pragma_freelist_count())") *
		q_int(db, "PRAGMA page_size");
	CHECK(used > 1536 * 1024);
	int errors = 0;
	for (int i = 0; i < 100; i++) {
		errors += store_maintain(st, util_wall_ms()) != 0;
		used = q_int(db, "SELECT (SELECT page_count FROM pragma_page_count()) - "
			     "(SELECT freelist_count FROM pragma_freelist_count())") *
			q_int(db, "PRAGMA page_size");
		if (used <= 1024 * 1024)
			break;
	}
	CHECK(errors == 0);
	CHECK(used <= 1024 * 1024);
	int64_t left = q_int(db, "SELECT count(*) FROM readings_all");
	CHECK(left > 0 && left < 4 * n);
	/* Not much more than needed went (at least half of what fits stays). */
	CHECK(left > n / 2);
	/* Oldest gone, newest there, for every point. */
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE ts = %lld", (long long)base) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE ts = %lld",
		    (long long)(base + (int64_t)(n - 1) * 100)) == 4);
	/* What is left is the newest: no gap older than the oldest kept. */
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE ts >= (SELECT min(ts) FROM readings_all)")
	      == left);
	CHECK(q_int(db, "SELECT count(*) FROM events") == 5);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == 6);
	CHECK(q_int(db, "SELECT count(*) FROM alarm_state") == 1);
	/* The in-memory last values are untouched by retention. */
	CHECK(store_put_reading(st, 0, 1, base + (int64_t)n * 100, n - 1, Q_GOOD) == 0);
	sqlite3_close(db);
	store_close(st);
	cfg_free(cfg);
}

/* ---- events and alarm state ------------------------------------------------ */

static void test_events(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX], buf[1024];
	struct store *st;
	struct alarm_state s;
	char *last = NULL;
	sqlite3 *db;
	int64_t now = util_wall_ms();

	path_of(path, sizeof path, "events.db");
	st = open_cfg(path, cfg);
	CHECK(store_next_seq(st) == 1);
	CHECK(store_next_seq(st) == 1);   /* not reserved until committed */

	/* Unknown alarm: 0 and a fresh state. */
	s.active = true;
	s.pending_since = 5;
	CHECK(store_alarm_load(st, "b3-fire-pressure-low", &s, &last) == 0);
	CHECK(!s.active && !s.acked && !s.cond && s.pending_since == -1 && s.raised_ts == 0);
	CHECK(last == NULL);

	/* An open batch is committed by the event's transaction. */
	CHECK(store_put_reading(st, 0, 0, now, 0.08, Q_GOOD) == 1);
	CHECK(commit_ev(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			now, true) == 0);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM events WHERE seq = 1 AND alarm = 'b3-fire-pressure-low' "
		    "AND state = 'raised' AND category = 'fire' AND severity = 'critical' "
		    "AND ts = %lld", (long long)now) == 1);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT json_extract(json, '$.event_id') FROM events"),
		     "gw1-1") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM alarm_state WHERE alarm = 'b3-fire-pressure-low' "
		    "AND active = 1 AND raised_ts = %lld AND last_event = "
		    "(SELECT json FROM events WHERE seq = 1)", (long long)now) == 1);
	CHECK(q_int(db, "SELECT count(*) FROM outbox WHERE prio = 0 AND qos = 1 AND retain = 0 "
		    "AND topic = 'yardwatch/mangshi-hs07/gw1/alarm/fire/b3-fire-pressure-low' "
		    "AND payload = (SELECT json FROM events WHERE seq = 1)") == 1);
	CHECK(store_next_seq(st) == 2);
	CHECK(store_outbox_depth(st) == 1);

	CHECK(store_alarm_load(st, "b3-fire-pressure-low", &s, &last) == 1);
	CHECK(s.active && !s.acked && s.cond && s.raised_ts == now && fabs(s.value - 0.08) < 1e-12 &&
	      s.pending_since == -1);
	CHECK(last && strstr(last, "\"seq\":1,") != NULL);
	free(last);
	last = NULL;
	CHECK(store_alarm_load(st, "b3-fire-pressure-low", &s, NULL) == 1);

	/* A failing event (duplicate seq) writes nothing at all. */
	fprintf(stderr, "(an error about a UNIQUE constraint is expected)\n");
	CHECK(commit_ev(st, 1, "other-alarm", ALARM_EV_RAISED, CAT_GAS, SEV_MAJOR, now, true) == -1);
	CHECK(q_int(db, "SELECT count(*) FROM alarm_state WHERE alarm = 'other-alarm'") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == 1);
	CHECK(store_outbox_depth(st) == 1);
	/* The store keeps working after it; synchronous is back to NORMAL (1). */
	CHECK(commit_ev(st, 2, "b3-fire-pressure-low", ALARM_EV_CLEARED, CAT_FIRE, SEV_CRITICAL,
			now + 1000, false) == 0);
	CHECK(store_next_seq(st) == 3);
	CHECK(q_int(db, "SELECT active FROM alarm_state WHERE alarm = 'b3-fire-pressure-low'") == 0);

	/* Without MQTT (no topic): event and state, no outbox row. */
	struct alarm_state s2 = { .active = true, .cond = true, .pending_since = -1,
				  .raised_ts = now + 1500, .value = NAN };
	CHECK(store_commit_event(st, 3, "b3-meter.offline", ALARM_EV_RAISED, CAT_SYSTEM, SEV_MAJOR,
				 now + 1500, "{\"seq\":3}", &s2, NULL) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM events WHERE seq = 3") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == 2);
	CHECK(store_outbox_depth(st) == 2);
	CHECK(store_alarm_load(st, "b3-meter.offline", &s, NULL) == 1 && s.active &&
	      isnan(s.value));
	exec_sql(db, "DELETE FROM events WHERE seq = 3");
	exec_sql(db, "DELETE FROM alarm_state WHERE alarm = 'b3-meter.offline'");
	exec_sql(db, "UPDATE meta SET value = 2 WHERE key = 'last_seq'");
	store_close(st);

	/* seq survives a restart ... */
	st = open_cfg(path, cfg);
	CHECK(store_next_seq(st) == 3);
	CHECK(commit_ev(st, 3, "x", ALARM_EV_RAISED, CAT_GAS, SEV_MAJOR, now + 2000, true) == 0);
	store_close(st);
	/* ... and never goes back, even if the event log were pruned. */
	exec_sql(db, "DELETE FROM events");
	st = open_cfg(path, cfg);
	CHECK(store_next_seq(st) == 4);
	store_close(st);
	sqlite3_close(db);
	cfg_free(cfg);
}

/* ---- outbox --------------------------------------------------------------- */

static void test_outbox(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	struct outbox_row rows[8];
	int64_t now = util_wall_ms(), id_alarm;
	int n;

	path_of(path, sizeof path, "outbox.db");
	st = open_cfg(path, cfg);
	CHECK(store_outbox_depth(st) == 0);
	CHECK(store_outbox_add(st, PRIO_STATUS, "p/device/a/status", "{\"a\":1}", 1, true) == 0);
	CHECK(store_outbox_add(st, PRIO_STATUS, "p/device/b/status", "{\"b\":1}", 0, false) == 0);
	CHECK(commit_ev(st, 1, "fire", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL, now, true) == 0);
	CHECK(store_outbox_add(st, PRIO_STATUS, "p/device/c/status", "{\"c\":1}", 1, true) == 0);
	CHECK(store_outbox_depth(st) == 4);

	/* (prio, id) order: the alarm first although it came later. */
	n = store_outbox_fetch(st, -1, 0, rows, 8);
	CHECK(n == 4);
	if (n == 4) {
		CHECK(rows[0].prio == 0 && rows[0].qos == 1 && !rows[0].retain &&
		      strstr(rows[0].topic, "/alarm/fire/fire") != NULL);
		CHECK(rows[1].prio == 1 && strcmp(rows[1].topic, "p/device/a/status") == 0 &&
		      strcmp(rows[1].payload, "{\"a\":1}") == 0 && rows[1].retain && rows[1].qos == 1);
		CHECK(strcmp(rows[2].topic, "p/device/b/status") == 0 && !rows[2].retain &&
		      rows[2].qos == 0);
		CHECK(strcmp(rows[3].topic, "p/device/c/status") == 0);
		CHECK(rows[1].id < rows[2].id && rows[2].id < rows[3].id);
	}
	id_alarm = n > 0 ? rows[0].id : 0;
	int64_t id_a = n > 1 ? rows[1].id : 0, id_b = n > 2 ? rows[2].id : 0;
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);

	/* Cursor: strictly after (prio, id); MAX bounds the count. */
	n = store_outbox_fetch(st, 0, id_alarm, rows, 8);
	CHECK(n == 3 && strcmp(rows[0].topic, "p/device/a/status") == 0);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	n = store_outbox_fetch(st, 1, id_a, rows, 1);
	CHECK(n == 1 && strcmp(rows[0].topic, "p/device/b/status") == 0);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	n = store_outbox_fetch(st, 1, INT64_MAX, rows, 8);
	CHECK(n == 0);
	CHECK(store_outbox_fetch(st, -1, 0, rows, 0) == 0);

	/* A new alarm is found by a fresh fetch from the start. */
	CHECK(commit_ev(st, 2, "fire2", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL, now, true) == 0);
	n = store_outbox_fetch(st, 0, id_alarm, rows, 8);
	CHECK(n == 4 && rows[0].prio == 0 && strstr(rows[0].topic, "fire2") != NULL);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);

	/* Delete and depth. */
	CHECK(store_outbox_depth(st) == 5);
	CHECK(store_outbox_delete(st, id_alarm) == 0);
	CHECK(store_outbox_delete(st, id_b) == 0);
	CHECK(store_outbox_delete(st, id_b) == 0);    /* twice: no harm */
	CHECK(store_outbox_depth(st) == 3);
	n = store_outbox_fetch(st, -1, 0, rows, 8);
	CHECK(n == 3 && strstr(rows[0].topic, "fire2") != NULL &&
	      strcmp(rows[1].topic, "p/device/a/status") == 0 &&
	      strcmp(rows[2].topic, "p/device/c/status") == 0);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	store_close(st);

	/* Depth is counted again after a restart; deleted ids are never reused. */
	st = open_cfg(path, cfg);
	CHECK(store_outbox_depth(st) == 3);
	CHECK(store_outbox_add(st, PRIO_STATUS, "p/d", "{}", 1, true) == 0);
	n = store_outbox_fetch(st, -1, 0, rows, 8);
	CHECK(n == 4 && rows[3].id > id_b);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	store_close(st);
	cfg_free(cfg);
}

/* ---- device statistics ------------------------------------------------------ */

static void test_device_stats(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX], buf[64];
	struct store *st;
	sqlite3 *db;
	int64_t h = (util_wall_ms() / HOUR - 5) * HOUR;   /* an hour boundary */
	static const struct store_poll polls[] = {
		{ 0, true, 0, 0, 0, 0, 0 },
		{ 0, true, 0, 2, 0, 0, 0 },       /* exceptions: still a working link */
		{ 0, false, 3, 0, 0, 0, 0 },
		{ 0, false, 1, 0, 1, 1, 0 },
	};

	path_of(path, sizeof path, "stats.db");
	st = open_cfg(path, cfg);
	for (int k = 0; k < 2; k++)          /* two hours */
		for (size_t i = 0; i < sizeof polls / sizeof polls[0]; i++) {
			struct store_poll p = polls[i];
			p.ts_ms = h + k * HOUR + (int64_t)i * 1000;
			CHECK(store_device_poll(st, 0, &p) == 0);
		}
	CHECK(store_device_state(st, 0, h + HOUR + 5000, false) == 0);
	CHECK(store_device_state(st, 0, h + HOUR + 6000, false) == 0);
	CHECK(store_flush(st) == 0);
	fprintf(stderr, "(an error about an unknown device is expected)\n");
	CHECK(store_device_poll(st, 7, &polls[0]) == -1);

	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM device_stats WHERE device = 'b3-pressure'") == 2);
	CHECK(q_int(db, "SELECT polls FROM device_stats WHERE hour = %lld", (long long)h) == 4);
	CHECK(q_int(db, "SELECT ok FROM device_stats WHERE hour = %lld", (long long)h) == 2);
	CHECK(q_int(db, "SELECT timeouts FROM device_stats WHERE hour = %lld", (long long)h) == 4);
	CHECK(q_int(db, "SELECT exceptions FROM device_stats WHERE hour = %lld", (long long)h) == 2);
	CHECK(q_int(db, "SELECT crc FROM device_stats WHERE hour = %lld", (long long)h) == 1);
	CHECK(q_int(db, "SELECT other FROM device_stats WHERE hour = %lld", (long long)(h + HOUR)) == 1);
	CHECK(q_int(db, "SELECT polls FROM devices WHERE id = 'b3-pressure'") == 8);
	CHECK(q_int(db, "SELECT errors FROM devices WHERE id = 'b3-pressure'") == 2 * (2 + 3 + 3));
	CHECK(q_int(db, "SELECT timeouts FROM devices WHERE id = 'b3-pressure'") == 8);
	CHECK(q_int(db, "SELECT last_ok FROM devices WHERE id = 'b3-pressure'") == h + HOUR + 1000);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT state FROM devices WHERE id = 'b3-pressure'"),
		     "offline") == 0);
	/* The first good poll logged the device online; a repeated state is not logged. */
	CHECK(q_int(db, "SELECT count(*) FROM device_log WHERE device = 'b3-pressure'") == 2);
	CHECK(q_int(db, "SELECT ts FROM device_log WHERE device = 'b3-pressure' AND online = 1") == h);
	CHECK(q_int(db, "SELECT ts FROM device_log WHERE device = 'b3-pressure' AND online = 0") ==
	      h + HOUR + 5000);
	store_close(st);
	/* A clean stop marks the time until the next start as not monitored. */
	CHECK(q_int(db, "SELECT online FROM device_log WHERE device = 'b3-pressure' "
		    "ORDER BY rowid DESC LIMIT 1") == -1);
	sqlite3_close(db);
	cfg_free(cfg);
}

/* ---- the journal and its fold ----------------------------------------------- */

/* Count of PT's ('device.point') readings in VIEW. */
static int64_t n_in(sqlite3 *db, const char *view, const char *point)
{
	return q_int(db, "SELECT count(*) FROM %s r JOIN points p ON p.id = r.point_id"
		     " WHERE p.device || '.' || p.point = '%s'", view, point);
}

/* The value stored at TS for 'device.point' PT is exactly V (NAN: NULL). */
static bool value_is(sqlite3 *db, const char *pt, int64_t ts, double v)
{
	sqlite3_stmt *s;
	char sql[512];
	bool ok = false;

	snprintf(sql, sizeof sql, "SELECT value FROM readings_all r JOIN points p ON"
		 " p.id = r.point_id WHERE p.device || '.' || p.point = '%s' AND r.ts = %lld", pt,
		 (long long)ts);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return false;
	if (sqlite3_step(s) == SQLITE_ROW) {
		if (isnan(v))
			ok = sqlite3_column_type(s, 0) == SQLITE_NULL;
		else
			ok = sqlite3_column_type(s, 0) == SQLITE_FLOAT &&
			     memcmp(&(double){ sqlite3_column_double(s, 0) }, &v, sizeof v) == 0;
	}
	sqlite3_finalize(s);
	if (!ok)
		fprintf(stderr, "  %s at %lld: not %.17g\n", pt, (long long)ts, v);
	return ok;
}

static void test_journal(void)
{
	static const double vals[] = {
		0.1, -1e300, 5e-324, 1.401298464324817e-45, 230.1000061035156, -0.0, 3.4028234663852886e38,
		123456789.123, 1e-310, -2.5, 65535, 4294967296.0
	};
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	sqlite3 *db;
	int64_t base = util_wall_ms() - 10 * HOUR, t;
	size_t nv = sizeof vals / sizeof vals[0];

	path_of(path, sizeof path, "journal.db");
	st = open_cfg(path, cfg);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM journal") == 2048);    /* 2 MB of 1 KB pages */

	/* Exact values through the journal and then the chunks (float32-exact
	 * ones take 4 bytes, others 8), bad and stale ones as NULL. */
	for (size_t i = 0; i < nv; i++)
		CHECK(store_put_reading(st, 1, 0, base + (int64_t)i * 1000, vals[i], Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 0, base + 20000, 0, Q_BAD) == 1);
	CHECK(store_put_reading(st, 1, 0, base + 21000, 0, Q_STALE) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(n_in(db, "journal_readings", "b3-meter.energy") == (int64_t)nv + 2);
	for (size_t i = 0; i < nv; i++)
		CHECK(value_is(db, "b3-meter.energy", base + (int64_t)i * 1000, vals[i]));
	CHECK(value_is(db, "b3-meter.energy", base + 20000, NAN));
	CHECK(q_int(db, "SELECT quality FROM readings_all WHERE ts = %lld",
		    (long long)(base + 21000)) == Q_STALE);

	/* Polls are in the journal until the fold; the command line adds them. */
	struct store_poll ok = { base + 500, true, 0, 0, 0, 0, 0 };
	struct store_poll bad = { base + 1500, false, 2, 0, 1, 300, 0 };
	CHECK(store_device_poll(st, 0, &ok) == 0);
	CHECK(store_device_poll(st, 0, &bad) == 0);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal_polls") == 2);
	CHECK(q_int(db, "SELECT sum(other) FROM journal_polls") == 255);   /* saturated */
	CHECK(q_int(db, "SELECT polls FROM devices WHERE id = 'b3-pressure'") == 0);

	/* Five minutes of data time later the journal is folded: dp has 40
	 * readings, archived; energy has 14 (fewer than 32) and none an hour
	 * old: carried over in the journal. The polls go to the counters. */
	for (int i = 0; i < 40; i++)
		CHECK(store_put_reading(st, 0, 1, base + 400000 + i * 1000LL, i, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(n_in(db, "chunk_readings", "b3-pressure.dp") == 40);
	CHECK(n_in(db, "journal_readings", "b3-pressure.dp") == 0);
	CHECK(n_in(db, "journal_readings", "b3-meter.energy") == (int64_t)nv + 2);
	CHECK(n_in(db, "chunk_readings", "b3-meter.energy") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal_polls") == 0);
	CHECK(q_int(db, "SELECT polls FROM devices WHERE id = 'b3-pressure'") == 2);
	CHECK(q_int(db, "SELECT errors FROM devices WHERE id = 'b3-pressure'") == 2 + 1 + 255);
	CHECK(q_int(db, "SELECT last_ok FROM devices WHERE id = 'b3-pressure'") == base + 500);
	CHECK(q_int(db, "SELECT polls FROM device_stats WHERE device = 'b3-pressure'") == 2);

	/* An hour on, the carried readings are old enough: archived, values
	 * unchanged; a quality change starts another chunk. */
	t = base + HOUR + 60000;
	CHECK(store_put_reading(st, 0, 1, t, 1000, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(n_in(db, "journal_readings", "b3-meter.energy") == (int64_t)nv + 2);
	t += 6 * 60000;              /* the fold timer runs from the first new entry */
	CHECK(store_put_reading(st, 0, 1, t, 1001, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(n_in(db, "journal_readings", "b3-meter.energy") == 0);
	CHECK(n_in(db, "chunk_readings", "b3-meter.energy") == (int64_t)nv + 2);
	for (size_t i = 0; i < nv; i++)
		CHECK(value_is(db, "b3-meter.energy", base + (int64_t)i * 1000, vals[i]));
	CHECK(value_is(db, "b3-meter.energy", base + 21000, NAN));
	CHECK(q_int(db, "SELECT count(*) FROM chunks c JOIN points p ON p.id = c.point_id"
		    " WHERE p.point = 'energy'") >= 3);

	/* A small last chunk is extended rather than followed by a new one. */
	int64_t chunks = q_int(db, "SELECT count(*) FROM chunks c JOIN points p ON"
			       " p.id = c.point_id WHERE p.point = 'relay'");
	for (int k = 0; k < 2; k++) {
		t += 2 * HOUR;
		CHECK(store_put_reading(st, 1, 1, t, k, Q_GOOD) == 1);
		CHECK(store_put_reading(st, 0, 1, t + 1000, 2000 + k, Q_GOOD) == 1);
		CHECK(store_flush(st) == 0);
		t += 2 * HOUR;
		CHECK(store_put_reading(st, 0, 1, t, 3000 + k, Q_GOOD) == 1);  /* moves data time */
		CHECK(store_flush(st) == 0);
	}
	CHECK(n_in(db, "chunk_readings", "b3-meter.relay") == 2);
	CHECK(q_int(db, "SELECT count(*) FROM chunks c JOIN points p ON p.id = c.point_id"
		    " WHERE p.point = 'relay'") == chunks + 1);

	/* The clock was set back: readings inside the archived span are merged
	 * in (the newer one wins at an equal time), the chunks stay disjoint. */
	int64_t dp_before = n_in(db, "readings_all", "b3-pressure.dp");
	CHECK(store_put_reading(st, 0, 1, base + 410000, -7, Q_GOOD) == 1);     /* replaces 10 */
	CHECK(store_put_reading(st, 0, 1, base + 410500, -8, Q_GOOD) == 1);     /* new */
	CHECK(store_put_reading(st, 0, 1, base + 420000, -9, Q_GOOD) == 1);     /* replaces 20 */
	CHECK(store_flush(st) == 0);
	CHECK(n_in(db, "readings_all", "b3-pressure.dp") == dp_before + 3);     /* not folded yet */
	t += HOUR;
	CHECK(store_put_reading(st, 0, 1, t, 4000, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(n_in(db, "journal_readings", "b3-pressure.dp") == 0);
	CHECK(n_in(db, "readings_all", "b3-pressure.dp") == dp_before + 2);
	CHECK(value_is(db, "b3-pressure.dp", base + 410000, -7));
	CHECK(value_is(db, "b3-pressure.dp", base + 410500, -8));
	CHECK(value_is(db, "b3-pressure.dp", base + 420000, -9));
	CHECK(value_is(db, "b3-pressure.dp", base + 411000, 11));
	CHECK(q_int(db, "SELECT count(*) FROM chunks a JOIN chunks b ON a.point_id = b.point_id"
		    " AND a.t0 < b.t0 AND a.t1 >= b.t0") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM (SELECT ts FROM chunk_readings r JOIN points p"
		    " ON p.id = r.point_id WHERE p.point = 'dp' ORDER BY chunk_t0, pos) x") ==
	      dp_before + 2);

	/* An alarm event commits the batch but leaves a fold that is due to
	 * the next flush (the event is not delayed by it). */
	t += HOUR;
	CHECK(store_put_reading(st, 0, 1, t, 5000, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	int64_t jbase = q_int(db, "SELECT value FROM meta WHERE key = 'journal_base'");
	CHECK(store_put_reading(st, 0, 1, t + 6 * 60000, 5001, Q_GOOD) == 1);
	CHECK(commit_ev(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			t + 6 * 60000, true) == 0);
	CHECK(value_is(db, "b3-pressure.dp", t + 6 * 60000, 5001));
	CHECK(q_int(db, "SELECT value FROM meta WHERE key = 'journal_base'") == jbase);
	CHECK(store_put_reading(st, 0, 1, t + 6 * 60000 + 1000, 5002, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT value FROM meta WHERE key = 'journal_base'") > jbase);
	CHECK(n_in(db, "readings_all", "b3-pressure.dp") == dp_before + 5);
	t += 7 * 60000;

	/* One batch larger than the whole ring (a small store): folded on the
	 * way, nothing lost. */
	cfg->max_mb = 1;
	CHECK(store_configure(st, cfg) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal") == 32);
	int64_t all = q_int(db, "SELECT count(*) FROM readings_all");
	for (int i = 0; i < 5000; i++)
		CHECK(store_put_reading(st, 0, 0, t + 1000 + i * 10LL, i * 0.1, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == all + 5000);
	CHECK(value_is(db, "b3-pressure.pressure", t + 1000 + 4999 * 10LL, 4999 * 0.1));
	cfg->max_mb = 256;
	CHECK(store_configure(st, cfg) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal") == 2048);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == all + 5000);
	char buf[16];
	CHECK(strcmp(q_text(db, buf, sizeof buf, "PRAGMA integrity_check"), "ok") == 0);

	/* A damaged journal slot (a damaged file) is skipped, the rest folded. */
	all = q_int(db, "SELECT count(*) FROM readings_all");
	for (int i = 0; i < 3; i++) {
		CHECK(store_put_reading(st, 1, 1, t + 60000 * (i + 1), i % 2 == 0, Q_GOOD) == 1);
		CHECK(store_flush(st) == 0);
	}
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == all + 3);
	exec_sql(db, "UPDATE journal SET nq = 500 WHERE seq = (SELECT max(seq) - 1 FROM journal)");
	fprintf(stderr, "(a warning about a damaged journal slot is expected)\n");
	cfg->max_mb = 64;            /* another journal size: everything is folded */
	CHECK(store_configure(st, cfg) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == all + 2);
	CHECK(store_put_reading(st, 1, 1, t + 60000 * 4, 0, Q_GOOD) == 1);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == all + 3);
	sqlite3_close(db);
	store_close(st);
	cfg_free(cfg);
}

/* ---- the command line --------------------------------------------------------- */

static char cli_bin[1024];
static sqlite3 *jdb;          /* in-memory, for json_extract */

/* Run the CLI with ARGS (a shell fragment); stdout into *OUT (malloc'd).
 * Returns the exit status, -1 when it could not run. */
static int run_cli(char **out, const char *fmt, ...)
{
	char args[3072], cmd[4608];
	size_t cap = 4096, n = 0, r;
	FILE *p;
	int status;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s/stderr.txt'", cli_bin, args, tmpdir);
	*out = malloc(cap);
	if (!*out)
		abort();
	p = popen(cmd, "r");
	if (!p) {
		(*out)[0] = '\0';
		return -1;
	}
	while ((r = fread(*out + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (cap - n - 1 == 0) {
			cap *= 2;
			*out = realloc(*out, cap);
			if (!*out)
				abort();
		}
	}
	(*out)[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* json_extract(DOC, PATH) as text ("(null)" for JSON null / missing). */
static char *jtext(const char *doc, const char *path, char *buf, size_t len)
{
	sqlite3_stmt *s;

	snprintf(buf, len, "(error)");
	if (sqlite3_prepare_v2(jdb, "SELECT json_extract(?1, ?2)", -1, &s, NULL) != SQLITE_OK)
		return buf;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, len, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(s);
	return buf;
}

static bool jis(const char *doc, const char *path, const char *want)
{
	char buf[512];
	jtext(doc, path, buf, sizeof buf);
	if (strcmp(buf, want) != 0) {
		fprintf(stderr, "  %s: got '%s', want '%s'\n", path, buf, want);
		return false;
	}
	return true;
}

static double jnum(const char *doc, const char *path)
{
	char buf[64];
	return atof(jtext(doc, path, buf, sizeof buf));
}

/* json_type(DOC, PATH): null, true, false, integer, real, text, array, object. */
static bool jtype(const char *doc, const char *path, const char *want)
{
	sqlite3_stmt *s;
	bool ok = false;

	if (sqlite3_prepare_v2(jdb, "SELECT json_valid(?1), json_type(?1, ?2)", -1, &s, NULL) !=
	    SQLITE_OK)
		return false;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 1) {
		const unsigned char *t = sqlite3_column_text(s, 1);
		ok = t && strcmp((const char *)t, want) == 0;
		if (!ok)
			fprintf(stderr, "  type of %s: got '%s', want '%s'\n", path,
				t ? (const char *)t : "(missing)", want);
	}
	sqlite3_finalize(s);
	return ok;
}

static int64_t jlen(const char *doc, const char *path)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(jdb, "SELECT json_array_length(?1, ?2)", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* The number of keys of the object at PATH. */
static int64_t jkeys(const char *doc, const char *path)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(jdb, "SELECT count(*) FROM json_each(?1, ?2)", -1, &s, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

struct cli_fill {
	int64_t now;
	int64_t base;           /* first pressure reading */
};

/* The store the CLI cases read: see the comments for what the cases expect. */
static struct store *cli_fill_store(const char *path, struct config *cfg, struct cli_fill *f)
{
	struct store *st = open_cfg(path, cfg);
	int64_t now = util_wall_ms();

	f->now = now;
	f->base = now - HOUR;
	/* b3-pressure: 10 readings a minute apart, 0.30, 0.32, ... 0.48, as the
	 * codec decodes them (the nearest double to each decimal). */
	for (int i = 0; i < 10; i++)
		CHECK(store_put_reading(st, 0, 0, f->base + i * 60000LL, (30 + i * 2) / 100.0,
					Q_GOOD) == 1);
	CHECK(store_put_reading(st, 0, 1, f->base, 7, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 0, f->base - HOUR, 1234.5, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 1, f->base - HOUR, 1, Q_GOOD) == 1);

	/* b3-pressure: online from -20h, offline -6h .. -4h: 80 % of the last
	 * 10 h, longest outage 7200 s. */
	CHECK(store_device_state(st, 0, now - 20 * HOUR, true) == 0);
	CHECK(store_device_state(st, 0, now - 6 * HOUR, false) == 0);
	CHECK(store_device_state(st, 0, now - 4 * HOUR, true) == 0);
	struct store_poll p1 = { now - 30 * HOUR, true, 0, 0, 0, 5, 0 };     /* outside 10 h */
	struct store_poll p2 = { now - 5 * HOUR, false, 2, 0, 1, 0, 0 };
	struct store_poll p3 = { now - 3 * HOUR, true, 0, 1, 0, 0, 0 };
	struct store_poll p4 = { now - HOUR / 2, true, 0, 0, 0, 0, 0 };
	CHECK(store_device_poll(st, 0, &p1) == 0);
	CHECK(store_device_poll(st, 0, &p2) == 0);
	CHECK(store_device_poll(st, 0, &p3) == 0);
	CHECK(store_device_poll(st, 0, &p4) == 0);
	/* b3-meter: first seen going offline 2 h ago: 0 %, outage ~7200 s. */
	CHECK(store_device_state(st, 1, now - 2 * HOUR, false) == 0);

	/* Events: fire raised -5h, cleared -3h; meter offline raised -2h (active). */
	CHECK(commit_ev(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			now - 5 * HOUR, true) == 0);
	CHECK(commit_ev(st, 2, "b3-fire-pressure-low", ALARM_EV_CLEARED, CAT_FIRE, SEV_CRITICAL,
			now - 3 * HOUR, false) == 0);
	CHECK(commit_ev(st, 3, "b3-meter.offline", ALARM_EV_RAISED, CAT_SYSTEM, SEV_MAJOR,
			now - 2 * HOUR, true) == 0);
	CHECK(store_outbox_add(st, PRIO_STATUS, "p/device/b3-meter/status", "{}", 1, true) == 0);
	CHECK(store_flush(st) == 0);
	return st;
}

static void test_cli(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX], t1[32], t2[32], want[256];
	struct store *st;
	struct cli_fill f;
	char *out = NULL;
	const char *bin = getenv("YW_BIN");
	int rc;

	snprintf(cli_bin, sizeof cli_bin, "%s/yardwatch", bin ? bin : ".");
	if (!bin || access(cli_bin, X_OK) != 0) {
		fprintf(stderr, "%s: yardwatch binary not found (set YW_BIN to the build dir)\n",
			cli_bin);
		CHECK(!"yardwatch binary present");
		cfg_free(cfg);
		return;
	}
	if (sqlite3_open(":memory:", &jdb) != SQLITE_OK)
		abort();
	path_of(path, sizeof path, "cli.db");
	st = cli_fill_store(path, cfg, &f);

	/* status */
	rc = run_cli(&out, "--db '%s' status --json", path);
	CHECK(rc == 0);
	CHECK(jkeys(out, "$") == 9);
	CHECK(jis(out, "$.site", "mangshi-hs07"));
	CHECK(jis(out, "$.gateway", "gw1"));
	CHECK(jis(out, "$.devices_online", "1"));
	CHECK(jis(out, "$.devices_total", "3"));
	CHECK(jis(out, "$.alarms_active", "1"));
	CHECK(jis(out, "$.outbox_depth", "4"));
	CHECK(jtype(out, "$.db_bytes", "integer") && jnum(out, "$.db_bytes") > 4096);
	CHECK(jis(out, "$.first_ts", util_fmt_time(f.base - HOUR, t1, sizeof t1)));
	CHECK(jis(out, "$.last_ts", util_fmt_time(f.base + 9 * 60000, t1, sizeof t1)));
	free(out);
	rc = run_cli(&out, "--db '%s' status", path);
	CHECK(rc == 0 && strstr(out, "1 online / 3") != NULL);
	free(out);

	/* devices */
	rc = run_cli(&out, "--db '%s' devices --json", path);
	CHECK(rc == 0);
	CHECK(jlen(out, "$") == 3);
	CHECK(jkeys(out, "$[0]") == 7);
	CHECK(jis(out, "$[0].id", "b3-pressure"));
	CHECK(jis(out, "$[0].bus", "lan"));
	CHECK(jis(out, "$[0].unit_id", "1"));
	CHECK(jis(out, "$[0].state", "online"));
	CHECK(jis(out, "$[0].last_ok", util_fmt_time(f.now - HOUR / 2, t1, sizeof t1)));
	CHECK(jis(out, "$[0].polls", "4"));
	CHECK(jis(out, "$[0].errors", "9"));
	CHECK(jis(out, "$[1].id", "b3-meter") && jis(out, "$[1].state", "offline"));
	CHECK(jtype(out, "$[1].last_ok", "null"));
	CHECK(jis(out, "$[2].id", "b9-spare") && jis(out, "$[2].state", "disabled"));
	free(out);
	rc = run_cli(&out, "--db '%s' devices", path);
	CHECK(rc == 0 && strstr(out, "b3-pressure") && strstr(out, "disabled"));
	free(out);

	/* points */
	rc = run_cli(&out, "--db '%s' points --json", path);
	CHECK(rc == 0);
	CHECK(jlen(out, "$") == 5);
	CHECK(jkeys(out, "$[0]") == 7);
	CHECK(jis(out, "$[0].id", "b3-pressure.pressure"));
	CHECK(jis(out, "$[0].device", "b3-pressure") && jis(out, "$[0].point", "pressure"));
	CHECK(fabs(jnum(out, "$[0].value") - 0.48) < 1e-9);
	CHECK(jis(out, "$[0].unit", "MPa"));
	CHECK(jis(out, "$[0].ts", util_fmt_time(f.base + 9 * 60000, t1, sizeof t1)));
	CHECK(jis(out, "$[0].quality", "good"));
	CHECK(jis(out, "$[1].id", "b3-pressure.dp") && jtype(out, "$[1].unit", "null"));
	CHECK(jis(out, "$[2].id", "b3-meter.energy") && jis(out, "$[2].quality", "stale"));
	CHECK(fabs(jnum(out, "$[2].value") - 1234.5) < 1e-9);
	CHECK(jis(out, "$[3].id", "b3-meter.relay") && jtype(out, "$[3].value", "true"));
	CHECK(jis(out, "$[4].id", "b9-spare.x") && jtype(out, "$[4].value", "null") &&
	      jtype(out, "$[4].ts", "null") && jis(out, "$[4].quality", "stale"));
	free(out);
	rc = run_cli(&out, "--db '%s' points b3-meter --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 2);
	free(out);
	rc = run_cli(&out, "--db '%s' points", path);
	CHECK(rc == 0 && strstr(out, "b3-pressure.pressure") && strstr(out, "0.48"));
	free(out);
	rc = run_cli(&out, "--db '%s' points no-such-device", path);
	CHECK(rc == 66);
	free(out);

	/* history: --since/--until inclusive, oldest first */
	util_fmt_time(f.base + 2 * 60000, t1, sizeof t1);
	util_fmt_time(f.base + 5 * 60000, t2, sizeof t2);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --since %s --until %s --csv",
		     path, t1, t2);
	CHECK(rc == 0);
	snprintf(want, sizeof want, "ts,value,quality\n%s,0.34,good\n", t1);
	CHECK(strncmp(out, want, strlen(want)) == 0);
	CHECK(strstr(out, t2) != NULL);
	{
		int lines = 0;
		for (const char *c = out; *c; c++)
			lines += *c == '\n';
		CHECK(lines == 5);
	}
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --since=%s --json", path, t1);
	CHECK(rc == 0 && jlen(out, "$") == 8);
	CHECK(jkeys(out, "$[0]") == 3 && jis(out, "$[0].ts", t1) && jis(out, "$[7].quality", "good"));
	CHECK(fabs(jnum(out, "$[7].value") - 0.48) < 1e-9);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-meter.relay --csv", path);
	CHECK(rc == 0 && strstr(out, ",1,good\n") != NULL);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --until 3h --csv", path);
	CHECK(rc == 0 && strcmp(out, "ts,value,quality\n") == 0);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure", path);
	CHECK(rc == 0 && strstr(out, "0.48") != NULL);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.nosuch --csv", path);
	CHECK(rc == 66);
	free(out);
	rc = run_cli(&out, "--db '%s' history nosuch.point", path);
	CHECK(rc == 66);
	free(out);
	rc = run_cli(&out, "--db '%s' history nodot", path);
	CHECK(rc == 66);
	free(out);

	/* alarms: newest first; --active: the latest event of each active alarm */
	rc = run_cli(&out, "--db '%s' alarms --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 3);
	CHECK(jis(out, "$[0].seq", "3") && jis(out, "$[1].seq", "2") && jis(out, "$[2].seq", "1"));
	CHECK(jis(out, "$[0].event_id", "gw1-3") && jis(out, "$[1].state", "cleared"));
	CHECK(jkeys(out, "$[0]") == 16 && jtype(out, "$[0].acked", "false") &&
	      jtype(out, "$[0].point", "null"));
	free(out);
	rc = run_cli(&out, "--db '%s' alarms --active --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 1 && jis(out, "$[0].alarm", "b3-meter.offline") &&
	      jis(out, "$[0].state", "raised"));
	free(out);
	rc = run_cli(&out, "--db '%s' alarms --since 4h --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 2 && jis(out, "$[1].seq", "2"));
	free(out);
	rc = run_cli(&out, "--db '%s' alarms", path);
	CHECK(rc == 0 && strstr(out, "b3-fire-pressure-low") && strstr(out, "cleared"));
	free(out);

	/* report */
	rc = run_cli(&out, "--db '%s' report --since 10h --json", path);
	CHECK(rc == 0);
	CHECK(jkeys(out, "$") == 4);
	CHECK(jtype(out, "$.since", "text") && jtype(out, "$.until", "text"));
	CHECK(jlen(out, "$.devices") == 3);
	CHECK(jkeys(out, "$.devices[0]") == 5);
	CHECK(jis(out, "$.devices[0].id", "b3-pressure"));
	CHECK(fabs(jnum(out, "$.devices[0].availability_pct") - 80.0) < 0.01);
	CHECK(jis(out, "$.devices[0].polls", "3"));
	CHECK(jkeys(out, "$.devices[0].failures") == 4);
	CHECK(jis(out, "$.devices[0].failures.timeout", "2"));
	CHECK(jis(out, "$.devices[0].failures.exception", "1"));
	CHECK(jis(out, "$.devices[0].failures.crc", "1"));
	CHECK(jis(out, "$.devices[0].failures.other", "0"));
	CHECK(jis(out, "$.devices[0].longest_outage_s", "7200"));
	CHECK(jis(out, "$.devices[1].id", "b3-meter"));
	CHECK(jnum(out, "$.devices[1].availability_pct") == 0.0 &&
	      jtype(out, "$.devices[1].availability_pct", "real"));
	CHECK(jnum(out, "$.devices[1].longest_outage_s") >= 7200 &&
	      jnum(out, "$.devices[1].longest_outage_s") < 7260);
	CHECK(jtype(out, "$.devices[2].availability_pct", "null"));
	CHECK(jis(out, "$.devices[2].polls", "0"));
	CHECK(jis(out, "$.alarms.by_category.fire", "1"));
	CHECK(jis(out, "$.alarms.by_category.system", "1"));
	CHECK(jis(out, "$.alarms.by_category.power", "0"));
	CHECK(jis(out, "$.alarms.by_severity.critical", "1"));
	CHECK(jis(out, "$.alarms.by_severity.major", "1"));
	CHECK(jis(out, "$.alarms.by_severity.minor", "0"));
	free(out);
	rc = run_cli(&out, "--db '%s' report --since 4h --json", path);
	CHECK(rc == 0 && jis(out, "$.alarms.by_category.fire", "0") &&
	      jis(out, "$.devices[0].availability_pct", "100.0") &&
	      jis(out, "$.devices[0].longest_outage_s", "0"));
	free(out);
	rc = run_cli(&out, "--db '%s' report", path);
	/* default since 7d: b3-pressure was first seen 20 h ago, offline 2 h of them */
	CHECK(rc == 0 && strstr(out, "90.00 %") != NULL && strstr(out, "b3-pressure") != NULL);
	free(out);

	/* exit codes */
	rc = run_cli(&out, "--db '%s/no-such.db' status", tmpdir);
	CHECK(rc == 66);
	free(out);
	rc = run_cli(&out, "-c '%s/no-such.json' status", tmpdir);
	CHECK(rc == 66);
	free(out);
	rc = run_cli(&out, "--db '%s' frobnicate", path);
	CHECK(rc == 64);
	free(out);
	rc = run_cli(&out, "--db '%s' status --bogus", path);
	CHECK(rc == 64);
	free(out);
	rc = run_cli(&out, "--db '%s' alarms --since yesterday", path);
	CHECK(rc == 64);
	free(out);
	rc = run_cli(&out, "--db '%s' history", path);
	CHECK(rc == 64);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --csv --json", path);
	CHECK(rc == 64);
	free(out);
	rc = run_cli(&out, "--db '%s'", path);
	CHECK(rc == 64);
	free(out);
	rc = run_cli(&out, "--help");
	CHECK(rc == 0 && strstr(out, "usage: yardwatch") != NULL);
	free(out);

	/* after the daemon stopped */
	store_close(st);
	rc = run_cli(&out, "--db '%s' status --json", path);
	CHECK(rc == 0 && jis(out, "$.alarms_active", "1"));
	free(out);

	/* not a store; a store of a newer schema */
	char other[PATH_MAX];
	sqlite3 *db;
	path_of(other, sizeof other, "empty-for-cli.db");
	FILE *fp = fopen(other, "w");
	if (fp)
		fclose(fp);
	rc = run_cli(&out, "--db '%s' status", other);
	CHECK(rc == 66);
	free(out);
	path_of(other, sizeof other, "newer-for-cli.db");
	sqlite3_open(other, &db);
	exec_sql(db, "CREATE TABLE x (a); PRAGMA user_version = 42;");
	sqlite3_close(db);
	rc = run_cli(&out, "--db '%s' status", other);
	CHECK(rc == 1);
	free(out);

	cfg_free(cfg);
}

/* ---- migration from schema version 1 ------------------------------------------ */

/* The layout of version 1 (as shipped), the parts the migration reads. */
static const char v1_schema[] =
	"PRAGMA page_size = 4096; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE devices (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, bus TEXT NOT NULL,"
	" unit_id INTEGER NOT NULL, enabled INTEGER NOT NULL, location TEXT,"
	" category TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN"
	" ('online','offline','disabled','removed')), last_ok INTEGER,"
	" polls INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,"
	" timeouts INTEGER NOT NULL DEFAULT 0, exceptions INTEGER NOT NULL DEFAULT 0,"
	" crc INTEGER NOT NULL DEFAULT 0, other INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE points (id INTEGER PRIMARY KEY, device TEXT NOT NULL, point TEXT NOT NULL,"
	" ord INTEGER NOT NULL, type TEXT NOT NULL, unit TEXT, removed INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (device, point));"
	"CREATE TABLE readings (point_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL,"
	" quality INTEGER NOT NULL, PRIMARY KEY (point_id, ts)) WITHOUT ROWID;"
	"CREATE TABLE readings_new (id INTEGER PRIMARY KEY, point_id INTEGER NOT NULL,"
	" ts INTEGER NOT NULL, value REAL, quality INTEGER NOT NULL);"
	"CREATE VIEW readings_all AS SELECT point_id, ts, value, quality FROM readings"
	" UNION ALL SELECT point_id, ts, value, quality FROM readings_new;"
	"CREATE TABLE device_log (device TEXT NOT NULL, ts INTEGER NOT NULL,"
	" online INTEGER NOT NULL);"
	"CREATE INDEX device_log_device_ts ON device_log (device, ts);"
	"CREATE TABLE device_stats (device TEXT NOT NULL, hour INTEGER NOT NULL,"
	" polls INTEGER NOT NULL DEFAULT 0, ok INTEGER NOT NULL DEFAULT 0,"
	" timeouts INTEGER NOT NULL DEFAULT 0, exceptions INTEGER NOT NULL DEFAULT 0,"
	" crc INTEGER NOT NULL DEFAULT 0, other INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (hour, device)) WITHOUT ROWID;"
	"CREATE INDEX device_stats_device_hour ON device_stats (device, hour);"
	"CREATE TABLE alarm_state (alarm TEXT PRIMARY KEY, active INTEGER NOT NULL,"
	" acked INTEGER NOT NULL, cond INTEGER NOT NULL, raised_ts INTEGER NOT NULL, value REAL,"
	" seq INTEGER NOT NULL, ts INTEGER NOT NULL, last_event TEXT NOT NULL);"
	"CREATE TABLE events (seq INTEGER PRIMARY KEY, alarm TEXT NOT NULL, state TEXT NOT NULL,"
	" category TEXT NOT NULL, severity TEXT NOT NULL, ts INTEGER NOT NULL,"
	" json TEXT NOT NULL);"
	"CREATE INDEX events_ts ON events (ts);"
	"CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, prio INTEGER NOT NULL,"
	" topic TEXT NOT NULL, payload TEXT NOT NULL, qos INTEGER NOT NULL,"
	" retain INTEGER NOT NULL, created INTEGER NOT NULL);"
	"CREATE INDEX outbox_prio_id ON outbox (prio, id);"
	"INSERT INTO meta (key, value) VALUES ('created', 1700000000000), ('last_seq', 7);"
	"PRAGMA user_version = 1;";

static void test_migrate_v1(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX], buf[64];
	struct store *st = NULL;
	sqlite3 *db;
	int64_t base = util_wall_ms() - 3 * HOUR;
	const int n = 3000;
	char *out = NULL;

	path_of(path, sizeof path, "v1.db");
	sqlite3_open(path, &db);
	exec_sql(db, v1_schema);
	exec_sql(db, "BEGIN");
	exec_sql(db, "INSERT INTO devices (id, ord, bus, unit_id, enabled, category, state, last_ok,"
		 " polls, errors, timeouts) VALUES"
		 " ('b3-pressure', 0, 'lan', 1, 1, 'fire', 'online', 1700000000500, 42, 3, 3),"
		 " ('b3-meter', 1, 'lan', 2, 1, 'power', 'offline', NULL, 5, 5, 5),"
		 " ('old-dev', 9, 'lan', 9, 1, 'system', 'removed', NULL, 1, 0, 0)");
	exec_sql(db, "INSERT INTO points (id, device, point, ord, type, unit) VALUES"
		 " (1, 'b3-pressure', 'pressure', 0, 'float32', 'MPa'),"
		 " (2, 'b3-pressure', 'dp', 1, 'int16', NULL),"
		 " (3, 'b3-meter', 'energy', 0, 'float32', 'kWh'),"
		 " (7, 'old-dev', 'gone', 0, 'int16', NULL)");
	{
		sqlite3_stmt *s;
		sqlite3_prepare_v2(db, "INSERT INTO readings VALUES (?1, ?2, ?3, ?4)", -1, &s, NULL);
		for (int i = 0; i < n; i++) {
			int64_t ts = base + i * 1000LL;
			int ids[3] = { 1, 2, 7 };
			double v[3] = { 0.3 + i * 0.001, (double)(i % 50), -(double)i };
			for (int k = 0; k < 3; k++) {
				sqlite3_bind_int(s, 1, ids[k]);
				sqlite3_bind_int64(s, 2, ts);
				if (k == 1 && i % 100 == 7) {
					sqlite3_bind_null(s, 3);
					sqlite3_bind_int(s, 4, i % 200 == 7 ? Q_BAD : Q_STALE);
				} else {
					sqlite3_bind_double(s, 3, v[k]);
					sqlite3_bind_int(s, 4, Q_GOOD);
				}
				sqlite3_step(s);
				sqlite3_reset(s);
			}
		}
		sqlite3_finalize(s);
	}
	/* readings_new: one newer reading, one that replaces an archived one */
	exec_sql(db, "INSERT INTO readings_new (point_id, ts, value, quality) VALUES"
		 " (3, 1700000001000, 1234.5, 0)");
	char sql[256];
	snprintf(sql, sizeof sql, "INSERT INTO readings_new (point_id, ts, value, quality) VALUES"
		 " (1, %lld, 9.75, 0), (1, %lld, 0.125, 0)", (long long)(base + 5000),
		 (long long)(base + n * 1000LL));
	exec_sql(db, sql);
	exec_sql(db, "INSERT INTO device_stats (device, hour, polls, ok) VALUES"
		 " ('b3-pressure', 1699999200000, 42, 39)");
	exec_sql(db, "COMMIT");
	int64_t total = q_int(db, "SELECT count(*) FROM readings_all") - 1;   /* one replaced */
	double sum = q_real(db, "SELECT sum(value) FROM (SELECT value FROM readings WHERE NOT"
			    " (point_id = 1 AND ts = %lld) UNION ALL SELECT value FROM readings_new)",
			    (long long)(base + 5000));
	sqlite3_close(db);

	CHECK(store_open(path, &st) == 0 && st);
	db = peek_open(path);
	CHECK(q_int(db, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
	CHECK(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
		    "('readings','readings_new')") == 0);
	CHECK(q_int(db, "PRAGMA page_size") == 4096);      /* kept: no VACUUM */
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == total);
	CHECK(fabs(q_real(db, "SELECT sum(value) FROM readings_all") - sum) < 1e-6);
	CHECK(value_is(db, "b3-pressure.pressure", base + 5000, 9.75));
	CHECK(value_is(db, "b3-pressure.pressure", base + 1234000, 0.3 + 1234 * 0.001));
	CHECK(value_is(db, "b3-pressure.dp", base + 7000, NAN));
	CHECK(q_int(db, "SELECT quality FROM readings_all WHERE point_id = 2 AND ts = %lld",
		    (long long)(base + 7000)) == Q_BAD);
	CHECK(q_int(db, "SELECT quality FROM readings_all WHERE point_id = 2 AND ts = %lld",
		    (long long)(base + 107000)) == Q_STALE);
	CHECK(value_is(db, "old-dev.gone", base + 2999000, -2999));
	CHECK(q_int(db, "SELECT count(*) FROM chunks a JOIN chunks b ON a.point_id = b.point_id"
		    " AND a.t0 < b.t0 AND a.t1 >= b.t0") == 0);
	CHECK(q_int(db, "SELECT count(DISTINCT num) FROM devices WHERE num IS NOT NULL") == 3);
	CHECK(q_int(db, "SELECT polls FROM devices WHERE id = 'b3-pressure'") == 42);
	CHECK(q_int(db, "SELECT value FROM meta WHERE key = 'last_seq'") == 7);
	CHECK(store_next_seq(st) == 8);

	/* It works as a version-2 store: the last values continue, a new device
	 * gets the next number, the command line reads it. */
	CHECK(store_configure(st, cfg) == 0);
	CHECK(q_int(db, "SELECT num FROM devices WHERE id = 'b9-spare'") == 4);
	CHECK(q_int(db, "SELECT count(*) FROM journal") == 512);    /* 2 MB of 4 KB pages */
	CHECK(store_put_reading(st, 0, 0, base + n * 1000LL + 1000, 0.125, Q_GOOD) == 0);
	CHECK(store_put_reading(st, 0, 0, base + n * 1000LL + 2000, 0.5, Q_GOOD) == 1);
	struct store_poll p = { base + n * 1000LL + 2000, true, 0, 0, 0, 0, 0 };
	CHECK(store_device_poll(st, 0, &p) == 0);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == total + 1);
	if (jdb && access(cli_bin, X_OK) == 0) {
		CHECK(run_cli(&out, "--db '%s' history b3-pressure.pressure --since %s --json", path,
			      util_fmt_time(base + n * 1000LL - 1000, buf, sizeof buf)) == 0);
		CHECK(jlen(out, "$") == 3 && fabs(jnum(out, "$[1].value") - 0.125) < 1e-12 &&
		      fabs(jnum(out, "$[2].value") - 0.5) < 1e-12);
		free(out);
		CHECK(run_cli(&out, "--db '%s' devices --json", path) == 0);
		CHECK(jis(out, "$[0].polls", "43"));
		free(out);
	}
	sqlite3_close(db);
	store_close(st);
	cfg_free(cfg);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-store-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_schema();
	test_readings();
	test_configure();
	test_retention_age();
	test_retention_size();
	test_events();
	test_outbox();
	test_device_stats();
	test_journal();
	test_cli();
	test_migrate_v1();
	if (jdb)
		sqlite3_close(jdb);
	rm_tmpdir();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
