/*
 * test_store_journal: the journal ring and its fold into the archive
 * (exact values through both, polls into the counters, carried readings,
 * extended chunks, the clock set back, a fold left to the next flush by an
 * alarm event, a batch larger than the ring, a damaged slot), and the
 * migration of a version-1 store (read back by `yardwatch` when it is
 * built).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store_fixture.h"

/* ---- the journal and its fold ----------------------------------------------- */

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
	struct store_poll bad = { base + 1500, false, 2, 0, 1, 300, 7 };
	CHECK(store_device_poll(st, 0, &ok) == 0);
	CHECK(store_device_poll(st, 0, &bad) == 0);
	CHECK(store_flush(st) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM journal_polls") == 2);
	/* other and gateway share a journal byte: 4 bits each, saturated */
	CHECK(q_int(db, "SELECT sum(other) FROM journal_polls") == 15);
	CHECK(q_int(db, "SELECT sum(gateway) FROM journal_polls") == 7);
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
	CHECK(q_int(db, "SELECT errors FROM devices WHERE id = 'b3-pressure'") == 2 + 1 + 15 + 7);
	CHECK(q_int(db, "SELECT gateway FROM devices WHERE id = 'b3-pressure'") == 7);
	CHECK(q_int(db, "SELECT gateway FROM device_stats WHERE device = 'b3-pressure'") == 7);
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
	/* version 4: the queued rows of an older store are the mqtt link's */
	CHECK(q_int(db, "SELECT count(*) FROM outbox WHERE link <> 'mqtt'") == 0);
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
	fx_init("store-journal");
	cli_init();          /* test_migrate_v1 reads the store back when it can */
	test_journal();
	test_migrate_v1();
	fx_done();
	return check_report();
}
