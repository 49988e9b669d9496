/*
 * test_store_budget: storage.max_mb bounds the whole footprint (the file and
 * its -wal, the journal ring inside): readings of many points pouring in,
 * far more than fits, never take the store past it, and the oldest go
 * first; alarm events and unsent outbox rows all stay; an alarm event that
 * finds the budget full is committed all the same, the oldest readings
 * making room for it.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store_fixture.h"

#define MB (1024 * 1024)
#define NDEV 20
#define NPTS 10               /* 200 points */

/* One simulated second: every point a new value (float64: the widest
 * journal entry), then the batch commit. */
static void pour_second(struct store *st, int64_t ts, int sec)
{
	for (int d = 0; d < NDEV; d++)
		for (int p = 0; p < NPTS; p++)
			store_put_reading(st, d, p, ts, sec * 0.1 + d + p / 7.0, Q_GOOD);
	CHECK(store_flush(st) == 0);
}

static void test_budget_pour(void)
{
	struct config *cfg = cfg_many(NDEV, NPTS);
	char path[PATH_MAX];
	struct store *st;
	sqlite3 *db;
	int64_t t0 = util_wall_ms() - 10 * HOUR, worst = 0, worst_wal = 0;
	const int secs = 2500;     /* 500,000 readings: ~4 MB packed, 5x what fits */
	int events = 0, status = 0;

	cfg->max_mb = 2;
	path_of(path, sizeof path, "pour.db");
	st = open_cfg(path, cfg);
	for (int s = 0; s < secs; s++) {
		int64_t ts = t0 + (int64_t)s * 1000, wal, fp;

		pour_second(st, ts, s);
		if (s % 97 == 0) {
			CHECK(commit_ev(st, ++events, "d001-high", ALARM_EV_RAISED, CAT_POWER,
					SEV_MAJOR, ts, true) == 0);
			CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "t/status", "{\"online\":true}", 1,
					       true) == 0);
			status++;
		}
		if (s % 300 == 299)
			CHECK(store_maintain(st, ts) == 0);
		fp = footprint(path, &wal);
		if (fp > worst)
			worst = fp;
		if (wal > worst_wal)
			worst_wal = wal;
	}
	fprintf(stderr, "footprint at most %lld bytes (WAL %lld) of %d\n", (long long)worst,
		(long long)worst_wal, 2 * MB);
	CHECK(worst <= 2 * MB);

	db = peek_open(path);
	int64_t left = q_int(db, "SELECT count(*) FROM readings_all");
	/* far more came than fits; a good part of what fits is there */
	CHECK(left < (int64_t)secs * NDEV * NPTS / 3);
	CHECK(left > 20000);
	/* the newest of every point is there, the oldest went first */
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE ts = %lld",
		    (long long)(t0 + (int64_t)(secs - 1) * 1000)) == NDEV * NPTS);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE ts = %lld", (long long)t0) == 0);
	/* nothing but readings was deleted */
	CHECK(q_int(db, "SELECT count(*) FROM events") == events);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == events + status);
	char buf[16];
	CHECK(strcmp(q_text(db, buf, sizeof buf, "PRAGMA integrity_check"), "ok") == 0);
	sqlite3_close(db);
	store_close(st);
	cfg_free(cfg);
}

/* Events with no flush nor maintain between them: the budget fills up, an
 * event commit finds SQLITE_FULL, readings make room, the event goes in. */
static void test_budget_event_makes_room(void)
{
	struct config *cfg = cfg_many(NDEV, NPTS);
	char path[PATH_MAX];
	struct store *st;
	sqlite3 *db;
	int64_t t0 = util_wall_ms() - 10 * HOUR, before, worst = 0;
	const int nev = 400;
	int nfail = 0;

	cfg->max_mb = 2;
	path_of(path, sizeof path, "full.db");
	st = open_cfg(path, cfg);
	for (int s = 0; s < 1500; s++)
		pour_second(st, t0 + (int64_t)s * 1000, s);
	CHECK(store_maintain(st, t0 + 1500 * 1000LL) == 0);
	db = peek_open(path);
	before = q_int(db, "SELECT count(*) FROM chunk_readings");
	for (int i = 1; i <= nev; i++) {
		int64_t fp;
		nfail += commit_ev(st, i, "d002-low", i % 2 ? ALARM_EV_RAISED : ALARM_EV_CLEARED,
				    CAT_FIRE, SEV_CRITICAL, t0 + 1500 * 1000LL + i, i % 2) != 0;
		fp = footprint(path, NULL);
		if (fp > worst)
			worst = fp;
	}
	CHECK(nfail == 0);
	CHECK(worst <= 2 * MB);
	CHECK(q_int(db, "SELECT count(*) FROM events") == nev);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == nev);
	/* readings made room: the oldest went, the newest are there */
	CHECK(q_int(db, "SELECT count(*) FROM chunk_readings") < before);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all WHERE ts = %lld",
		    (long long)(t0 + 1499 * 1000LL)) == NDEV * NPTS);
	sqlite3_close(db);
	store_close(st);
	cfg_free(cfg);
}

int main(int argc, char **argv)
{
	fx_init("store-budget");
	if (argc < 2 || argv[1][0] == 'p')
		test_budget_pour();
	if (argc < 2 || argv[1][0] == 'e')
		test_budget_event_makes_room();
	fx_done();
	return check_report();
}
