/*
 * test_store_retention: store_maintain by age (readings, statistics, the
 * device log but its state at the cutoff) and by size (the oldest go first,
 * not much more than needed), never events, alarm state or the outbox.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store_fixture.h"

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
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "t/old", "{}", 1, true) == 0);
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
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "t/x", "{\"a\":1}", 1, true) == 0);
	CHECK(store_flush(st) == 0);

	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == 4 * n);
	used = q_int(db, "SELECT (SELECT page_count FROM pragma_page_count()) - "
		     "(SELECT freelist_count FROM pragma_freelist_count())") *
		q_int(db, "PRAGMA page_size");
	CHECK(used > 1536 * 1024);

	/* As after a reload: the journal shrinks with max_mb (32 KB here), and
	 * max_mb bounds the whole footprint: the file and its -wal. */
	cfg->max_mb = 2;
	CHECK(store_configure(st, cfg) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal") == 32);
	CHECK(footprint(path, NULL) > 2 * 1024 * 1024);
	int errors = 0;
	for (int i = 0; i < 20; i++) {
		errors += store_maintain(st, util_wall_ms()) != 0;
		if (footprint(path, NULL) <= 2 * 1024 * 1024)
			break;
	}
	CHECK(errors == 0);
	CHECK(footprint(path, NULL) <= 2 * 1024 * 1024);
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


int main(void)
{
	fx_init("store-retention");
	test_retention_age();
	test_retention_size();
	fx_done();
	return check_report();
}
