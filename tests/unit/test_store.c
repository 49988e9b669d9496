/*
 * test_store: the store's schema and its creation from version 0 (empty,
 * foreign and newer files), the deadband / max interval / quality rules of
 * store_put_reading and their fold into the archive, binding to a config
 * (devices and points removed and back), and the device statistics and log.
 *
 * The other rooms' tests: test_store_events (events, sequence, outbox),
 * test_store_retention, test_store_journal (the fold rules, migration from
 * version 1), test_store_cli (`yardwatch` on a store filled through the API).
 * The store is checked through a second SQLite connection (store_fixture).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store_fixture.h"

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


int main(void)
{
	fx_init("store");
	test_schema();
	test_readings();
	test_configure();
	test_device_stats();
	fx_done();
	return check_report();
}
