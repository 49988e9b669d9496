/*
 * store: the gateway's SQLite file. See store.h for the contract and
 * docs/store.md for the schema and the retention / deadband rules.
 *
 * Trade-offs worth knowing before changing this file:
 * - Flash wear decides the layout of readings. The archive `readings` is a
 *   WITHOUT ROWID table keyed by (point_id, ts): a history query and "the
 *   last reading of a point" are one seek, and retention deletes per point
 *   over the same key (no second index on ts). But a commit that adds one
 *   reading to each of N points dirties N pages of such a table, and WAL
 *   writes every dirty page per commit: 1,000 points changing every second
 *   would write ~4 MB/s. So new readings are appended to `readings_new`
 *   (rowid order: a commit dirties the few pages at its end) and moved into
 *   the archive in one sorted INSERT once enough have gathered
 *   (store_merge_rows()): each point's tail page is then written once per
 *   merge, not once per second. Readers look at both (view readings_all).
 * - The latest value of a point is read from the readings tables, not copied
 *   into `points` on every stored reading: that would rewrite the points
 *   table on every batch, for nothing the command line cannot get otherwise.
 * - Every write except an alarm event goes into one open transaction that
 *   store_flush() commits (synchronous=NORMAL, WAL): one fsync-free commit a
 *   second instead of one per reading.
 */
#include "store.h"
#include "log.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_BUSY_MS 1000
#define STORE_WAL_LIMIT (4 * 1024 * 1024)
#define STORE_MAINTAIN_BUDGET_MS 200
#define STORE_SLICES 128            /* size retention removes ~1/128 of the span per step */
#define STORE_VACUUM_PAGES 2048     /* incremental_vacuum pages per call */
#define STORE_ERR_QUIET_MS 60000    /* identical errors are logged once a minute */
#define STORE_HOUR_MS 3600000LL
#define STORE_DAY_MS 86400000LL

/* ---- schema ---- */

/* store_migrations[v] takes a store from user_version v to v + 1. Add a step
 * at the end for every schema change and raise STORE_SCHEMA_VERSION; never
 * edit a step that has shipped. */
static const char *const store_migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value"
	") WITHOUT ROWID;"
	"CREATE TABLE devices ("
	"  id TEXT PRIMARY KEY,"
	"  ord INTEGER NOT NULL,"
	"  bus TEXT NOT NULL,"
	"  unit_id INTEGER NOT NULL,"
	"  enabled INTEGER NOT NULL,"
	"  location TEXT,"
	"  category TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('online','offline','disabled','removed')),"
	"  last_ok INTEGER,"
	"  polls INTEGER NOT NULL DEFAULT 0,"
	"  errors INTEGER NOT NULL DEFAULT 0,"
	"  timeouts INTEGER NOT NULL DEFAULT 0,"
	"  exceptions INTEGER NOT NULL DEFAULT 0,"
	"  crc INTEGER NOT NULL DEFAULT 0,"
	"  other INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE points ("
	"  id INTEGER PRIMARY KEY,"
	"  device TEXT NOT NULL,"
	"  point TEXT NOT NULL,"
	"  ord INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  unit TEXT,"
	"  removed INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (device, point)"
	");"
	"CREATE TABLE readings ("
	"  point_id INTEGER NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  value REAL,"
	"  quality INTEGER NOT NULL,"
	"  PRIMARY KEY (point_id, ts)"
	") WITHOUT ROWID;"
	"CREATE TABLE readings_new ("
	"  id INTEGER PRIMARY KEY,"
	"  point_id INTEGER NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  value REAL,"
	"  quality INTEGER NOT NULL"
	");"
	"CREATE VIEW readings_all AS"
	"  SELECT point_id, ts, value, quality FROM readings"
	"  UNION ALL SELECT point_id, ts, value, quality FROM readings_new;"
	"CREATE TABLE device_log ("
	"  device TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  online INTEGER NOT NULL"
	");"
	"CREATE INDEX device_log_device_ts ON device_log (device, ts);"
	"CREATE TABLE device_stats ("
	"  device TEXT NOT NULL,"
	"  hour INTEGER NOT NULL,"
	"  polls INTEGER NOT NULL DEFAULT 0,"
	"  ok INTEGER NOT NULL DEFAULT 0,"
	"  timeouts INTEGER NOT NULL DEFAULT 0,"
	"  exceptions INTEGER NOT NULL DEFAULT 0,"
	"  crc INTEGER NOT NULL DEFAULT 0,"
	"  other INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (hour, device)"
	") WITHOUT ROWID;"
	"CREATE INDEX device_stats_device_hour ON device_stats (device, hour);"
	"CREATE TABLE alarm_state ("
	"  alarm TEXT PRIMARY KEY,"
	"  active INTEGER NOT NULL,"
	"  acked INTEGER NOT NULL,"
	"  cond INTEGER NOT NULL,"
	"  raised_ts INTEGER NOT NULL,"
	"  value REAL,"
	"  seq INTEGER NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  last_event TEXT NOT NULL"
	");"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY,"
	"  alarm TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  category TEXT NOT NULL,"
	"  severity TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  json TEXT NOT NULL"
	");"
	"CREATE INDEX events_ts ON events (ts);"
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  prio INTEGER NOT NULL,"
	"  topic TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  qos INTEGER NOT NULL,"
	"  retain INTEGER NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE INDEX outbox_prio_id ON outbox (prio, id);"
	"INSERT INTO meta (key, value) VALUES"
	"  ('created', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),"
	"  ('last_seq', 0);",
};

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

/* ---- cached statements ---- */

enum store_sql {
	SQL_BEGIN, SQL_BEGIN_IMMEDIATE, SQL_COMMIT, SQL_ROLLBACK,
	SQL_META_SET, SQL_META_SEQ, SQL_META_SEQ_SET,
	SQL_DEV_UPSERT, SQL_DEV_LIST, SQL_DEV_REMOVE, SQL_DEV_POLL, SQL_DEV_STATE,
	SQL_STATS_ADD, SQL_STATS_PRUNE,
	SQL_LOG_ADD, SQL_LOG_LAST, SQL_LOG_PRUNE,
	SQL_PT_UPSERT, SQL_PT_ID, SQL_PT_LIST, SQL_PT_REMOVE, SQL_PT_IDS,
	SQL_RD_ADD, SQL_RD_LAST, SQL_RD_FIRST, SQL_RD_CUT,
	SQL_NEW_LIST, SQL_NEW_SPAN, SQL_NEW_CUT, SQL_NEW_COUNT, SQL_MERGE, SQL_MERGE_CLEAR,
	SQL_PAGE_COUNT, SQL_FREE_COUNT, SQL_PAGE_SIZE,
	SQL_EV_ADD, SQL_AL_UPSERT, SQL_AL_LOAD,
	SQL_OB_ADD, SQL_OB_FETCH, SQL_OB_DEL, SQL_OB_COUNT,
	SQL_N
};

static const char *const store_sql_text[SQL_N] = {
	[SQL_BEGIN] = "BEGIN",
	[SQL_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[SQL_META_SEQ] = "SELECT max(coalesce((SELECT max(seq) FROM events), 0),"
		" coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0))",
	[SQL_META_SEQ_SET] = "INSERT INTO meta (key, value) VALUES ('last_seq', ?1)"
		" ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
	[SQL_DEV_UPSERT] = "INSERT INTO devices (id, ord, bus, unit_id, enabled, location, category, state)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?5 THEN 'offline' ELSE 'disabled' END)"
		" ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, bus = excluded.bus,"
		" unit_id = excluded.unit_id, enabled = excluded.enabled,"
		" location = excluded.location, category = excluded.category,"
		" state = CASE WHEN excluded.enabled = 0 THEN 'disabled'"
		" WHEN devices.state IN ('disabled', 'removed') THEN 'offline'"
		" ELSE devices.state END",
	[SQL_DEV_LIST] = "SELECT id FROM devices WHERE state <> 'removed'",
	[SQL_DEV_REMOVE] = "UPDATE devices SET state = 'removed' WHERE id = ?1",
	[SQL_DEV_POLL] = "UPDATE devices SET polls = polls + 1, errors = errors + ?2,"
		" timeouts = timeouts + ?3, exceptions = exceptions + ?4, crc = crc + ?5,"
		" other = other + ?6, last_ok = CASE WHEN ?7 THEN ?8 ELSE last_ok END"
		" WHERE id = ?1",
	[SQL_DEV_STATE] = "UPDATE devices SET state = ?2 WHERE id = ?1"
		" AND state NOT IN ('disabled', 'removed')",
	/* Keyed (hour, device): the rows a poll updates sit together on the
	 * table's last pages; the (device, hour) index only changes once an
	 * hour per device. */
	[SQL_STATS_ADD] = "INSERT INTO device_stats (device, hour, polls, ok, timeouts, exceptions, crc, other)"
		" VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (hour, device) DO UPDATE SET polls = polls + 1, ok = ok + excluded.ok,"
		" timeouts = timeouts + excluded.timeouts, exceptions = exceptions + excluded.exceptions,"
		" crc = crc + excluded.crc, other = other + excluded.other",
	[SQL_STATS_PRUNE] = "DELETE FROM device_stats WHERE hour < ?1",
	[SQL_LOG_ADD] = "INSERT INTO device_log (device, ts, online) VALUES (?1, ?2, ?3)",
	[SQL_LOG_LAST] = "SELECT online FROM device_log WHERE device = ?1"
		" ORDER BY ts DESC, rowid DESC LIMIT 1",
	/* Keep the last transition before the cutoff: it is the state at the cutoff. */
	[SQL_LOG_PRUNE] = "DELETE FROM device_log"
		" WHERE device IN (SELECT id FROM devices) AND ts < ?1 AND rowid <>"
		" (SELECT l.rowid FROM device_log l WHERE l.device = device_log.device"
		" AND l.ts < ?1 ORDER BY l.ts DESC, l.rowid DESC LIMIT 1)",
	[SQL_PT_UPSERT] = "INSERT INTO points (device, point, ord, type, unit, removed)"
		" VALUES (?1, ?2, ?3, ?4, ?5, 0)"
		" ON CONFLICT (device, point) DO UPDATE SET ord = excluded.ord,"
		" type = excluded.type, unit = excluded.unit, removed = 0",
	[SQL_PT_ID] = "SELECT id FROM points WHERE device = ?1 AND point = ?2",
	[SQL_PT_LIST] = "SELECT id, device, point FROM points WHERE removed = 0",
	[SQL_PT_REMOVE] = "UPDATE points SET removed = 1 WHERE id = ?1",
	[SQL_PT_IDS] = "SELECT id FROM points",
	[SQL_RD_ADD] = "INSERT INTO readings_new (point_id, ts, value, quality)"
		" VALUES (?1, ?2, ?3, ?4)",
	[SQL_RD_LAST] = "SELECT ts, value, quality FROM readings WHERE point_id = ?1"
		" ORDER BY ts DESC LIMIT 1",
	[SQL_RD_FIRST] = "SELECT ts FROM readings WHERE point_id = ?1 ORDER BY ts LIMIT 1",
	[SQL_RD_CUT] = "DELETE FROM readings WHERE point_id = ?1 AND ts < ?2",
	[SQL_NEW_LIST] = "SELECT point_id, ts, value, quality FROM readings_new ORDER BY id",
	[SQL_NEW_SPAN] = "SELECT min(ts), max(ts) FROM readings_new",
	[SQL_NEW_CUT] = "DELETE FROM readings_new WHERE ts < ?1",
	[SQL_NEW_COUNT] = "SELECT count(*) FROM readings_new",
	/* Sorted by the archive's key, so the archive is written page by page;
	 * with a repeated (point_id, ts) the later reading wins. */
	[SQL_MERGE] = "INSERT OR REPLACE INTO readings (point_id, ts, value, quality)"
		" SELECT point_id, ts, value, quality FROM readings_new ORDER BY point_id, ts, id",
	[SQL_MERGE_CLEAR] = "DELETE FROM readings_new",
	[SQL_PAGE_COUNT] = "PRAGMA page_count",
	[SQL_FREE_COUNT] = "PRAGMA freelist_count",
	[SQL_PAGE_SIZE] = "PRAGMA page_size",
	[SQL_EV_ADD] = "INSERT INTO events (seq, alarm, state, category, severity, ts, json)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQL_AL_UPSERT] = "INSERT INTO alarm_state (alarm, active, acked, cond, raised_ts, value,"
		" seq, ts, last_event) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (alarm) DO UPDATE SET active = excluded.active,"
		" acked = excluded.acked, cond = excluded.cond, raised_ts = excluded.raised_ts,"
		" value = excluded.value, seq = excluded.seq, ts = excluded.ts,"
		" last_event = excluded.last_event",
	[SQL_AL_LOAD] = "SELECT active, acked, cond, raised_ts, value, last_event"
		" FROM alarm_state WHERE alarm = ?1",
	[SQL_OB_ADD] = "INSERT INTO outbox (prio, topic, payload, qos, retain, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQL_OB_FETCH] = "SELECT id, prio, topic, payload, qos, retain FROM outbox"
		" WHERE (prio, id) > (?1, ?2) ORDER BY prio, id LIMIT ?3",
	[SQL_OB_DEL] = "DELETE FROM outbox WHERE id = ?1",
	[SQL_OB_COUNT] = "SELECT count(*) FROM outbox",
};

/* ---- names as written in the config and on MQTT ---- */

static const char *const store_type_names[] = {
	"bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"
};
static const char *const store_category_names[] = {
	"fire", "power", "water", "lighting", "security", "gas", "elevator", "structure",
	"environment", "system"
};
static const char *const store_severity_names[] = { "critical", "major", "minor", "warning" };
static const char *const store_event_names[] = { "none", "raised", "cleared", "acked" };

#define STORE_NAME(tab, i) \
	((size_t)(i) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[(size_t)(i)] : "unknown")

/* ---- state ---- */

struct store_pt {
	int64_t id;          /* points.id */
	bool has;            /* a reading is stored */
	int64_t ts;
	double value;
	int q;
};

struct store_dev {
	int logged;          /* last device_log row: 1 online, 0 offline, -1 not monitored */
	size_t first;        /* index of its first point in store.pts */
	size_t npts;
};

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[SQL_N];
	bool in_batch;
	const struct config *cfg;
	struct store_dev *devs;
	struct store_pt *pts;
	size_t npts;
	int64_t seq;         /* highest committed seq; -1 until read */
	int64_t depth;       /* outbox rows; -1 until counted */
	bool size_warned;    /* "above max_mb with no readings left" said */
	int64_t new_rows;    /* rows in readings_new; -1 until counted */
	/* error log throttle */
	int err_code;
	const char *err_what;
	int64_t err_ms;
	int err_quiet;
};

/* ---- errors ---- */

/* Log a failed SQLite call once (identical errors repeat once a minute), with
 * the path and sqlite3_errmsg. */
static void store_fail(struct store *st, const char *what)
{
	int code = sqlite3_extended_errcode(st->db);
	int64_t now = util_mono_ms();

	if (code == st->err_code && what == st->err_what && now - st->err_ms < STORE_ERR_QUIET_MS) {
		st->err_quiet++;
		return;
	}
	if (st->err_quiet)
		log_error("store", "%s: %s: %s (%d similar errors not logged)", st->path, what,
			  sqlite3_errmsg(st->db), st->err_quiet);
	else
		log_error("store", "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
	st->err_code = code;
	st->err_what = what;
	st->err_ms = now;
	st->err_quiet = 0;
}

/* ---- statement helpers ---- */

static sqlite3_stmt *store_stmt(struct store *st, enum store_sql id)
{
	sqlite3_stmt *s = st->stmt[id];

	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return s;
	}
	if (sqlite3_prepare_v3(st->db, store_sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &s,
			       NULL) != SQLITE_OK) {
		store_fail(st, "prepare");
		return NULL;
	}
	st->stmt[id] = s;
	return s;
}

/* Run S to completion and reset it. 0 / -1 (logged as WHAT). */
static int store_run(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, what);
		return -1;
	}
	return 0;
}

/* Step a one-row query: 1 row (left un-reset for the caller to read, who
 * must sqlite3_reset), 0 no row, -1 error (logged). */
static int store_row(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	store_fail(st, what);
	return -1;
}

static int store_simple(struct store *st, enum store_sql id, const char *what)
{
	sqlite3_stmt *s = store_stmt(st, id);
	return s ? store_run(st, s, what) : -1;
}

static int store_exec(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, what);
		return -1;
	}
	return 0;
}

/* A PRAGMA or query returning one integer. */
static int store_int(struct store *st, enum store_sql id, int64_t *out)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int r;

	if (!s)
		return -1;
	r = store_row(st, s, store_sql_text[id]);
	if (r <= 0)
		return r < 0 ? -1 : (*out = 0, 0);
	*out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

static void store_bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t && *t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void store_bind_real(sqlite3_stmt *s, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

/* ---- transactions ---- */

static int store_load_memory(struct store *st, const struct config *cfg,
			     struct store_dev *devs, struct store_pt *pts);

/* A failed commit or statement inside the batch: roll back what is left and
 * re-read the in-memory copies (last values, device log state, outbox depth)
 * so they match the file again. */
static void store_abort(struct store *st)
{
	st->in_batch = false;
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback");
	st->depth = -1;
	st->seq = -1;
	st->new_rows = -1;
	if (st->cfg)
		store_load_memory(st, st->cfg, st->devs, st->pts);
}

/* The first write after a flush opens the batch transaction. */
static int store_batch(struct store *st)
{
	if (st->in_batch)
		return 0;
	if (store_simple(st, SQL_BEGIN, "begin batch") < 0)
		return -1;
	st->in_batch = true;
	return 0;
}

/* Rows gathered in readings_new before they move to the archive: about 32
 * per configured point (so each point's archive tail page is written once
 * per ~32 of its readings), at least 4096, at most 65536 (a merge of 64k
 * rows takes about 0.1 s on a PC, several times that on a small ARM). */
static int64_t store_merge_rows(const struct store *st)
{
	int64_t n = (int64_t)st->npts * 32;
	return n < 4096 ? 4096 : n > 65536 ? 65536 : n;
}

/* Move readings_new into the archive, inside the open batch. */
static int store_merge(struct store *st)
{
	if (store_batch(st) < 0 || store_simple(st, SQL_MERGE, "merge readings") < 0 ||
	    store_simple(st, SQL_MERGE_CLEAR, "merge readings") < 0)
		return -1;
	st->new_rows = 0;
	return 0;
}

int store_flush(struct store *st)
{
	if (!st->in_batch)
		return 0;
	if (st->new_rows < 0 && store_int(st, SQL_NEW_COUNT, &st->new_rows) < 0)
		st->new_rows = -1;
	if (st->new_rows >= store_merge_rows(st) && store_merge(st) < 0) {
		store_abort(st);
		return -1;
	}
	if (store_simple(st, SQL_COMMIT, "commit batch") < 0) {
		store_abort(st);
		return -1;
	}
	st->in_batch = false;
	return 0;
}

/* ---- open, migrate, close ---- */

static int store_pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* auto_vacuum=INCREMENTAL takes effect when set before the first table is
 * created; a file that already has pages (a foreign or emptied database at
 * version 0) needs a VACUUM to switch. */
static int store_set_auto_vacuum(struct store *st)
{
	int64_t mode;

	if (store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", "set auto_vacuum") < 0)
		return -1;
	if (store_pragma_int(st->db, "PRAGMA auto_vacuum", &mode) < 0) {
		store_fail(st, "read auto_vacuum");
		return -1;
	}
	if (mode == 2)
		return 0;
	return store_exec(st, "VACUUM", "vacuum to enable auto_vacuum");
}

static int store_migrate(struct store *st)
{
	int64_t version;
	char sql[64];

	if (store_pragma_int(st->db, "PRAGMA user_version", &version) < 0) {
		store_fail(st, "read schema version");
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		log_error("store", "%s: schema version %lld is newer than this program's (%d); "
			  "use the yardwatchd that wrote it", st->path, (long long)version,
			  STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version < 0) {
		log_error("store", "%s: bad schema version %lld", st->path, (long long)version);
		return -1;
	}
	if (version == 0 && store_set_auto_vacuum(st) < 0)
		return -1;
	while (version < STORE_SCHEMA_VERSION) {
		if (store_exec(st, "BEGIN IMMEDIATE", "begin migration") < 0)
			return -1;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)version + 1);
		if (store_exec(st, store_migrations[version], "migrate schema") < 0 ||
		    store_exec(st, sql, "set schema version") < 0 ||
		    store_exec(st, "COMMIT", "commit migration") < 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (version > 0)
			log_info("store", "%s: schema migrated from version %lld to %lld", st->path,
				 (long long)version, (long long)version + 1);
		version++;
	}
	return 0;
}

static int store_set_journal(struct store *st)
{
	sqlite3_stmt *s;
	int rc, wal = 0;

	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK) {
		store_fail(st, "set journal_mode");
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(s, 0);
		wal = mode && strcmp(mode, "wal") == 0;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		store_fail(st, "set journal_mode");
		return -1;
	}
	if (!wal)
		log_warn("store", "%s: WAL journal not available here; readers may block writes",
			 st->path);
	char sql[80];
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", STORE_WAL_LIMIT);
	return store_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous") < 0 ||
	       store_exec(st, "PRAGMA temp_store = MEMORY", "set temp_store") < 0 ||
	       store_exec(st, sql, "set journal_size_limit") < 0 ? -1 : 0;
}

int store_open(const char *path, struct store **out)
{
	struct store *st;
	sqlite3_stmt *s;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof *st);
	if (!st) {
		log_error("store", "%s: out of memory", path);
		return -1;
	}
	st->seq = -1;
	st->depth = -1;
	st->new_rows = -1;
	st->path = strdup(path);
	if (!st->path) {
		log_error("store", "%s: out of memory", path);
		goto out_free;
	}
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_error("store", "%s: cannot open: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto out_close;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	/* Keep -wal and -shm after a clean close: `yardwatch` run by a user who
	 * may read the store but not write its directory can then still open
	 * it read-only (SQLite cannot create the -shm for it). */
	sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &(int){1});
	if (store_pragma_int(st->db, "PRAGMA schema_version", &(int64_t){0}) < 0) {
		store_fail(st, "read");
		goto out_close;
	}
	if (store_migrate(st) < 0 || store_set_journal(st) < 0)
		goto out_close;

	if (!(s = store_stmt(st, SQL_META_SET)))
		goto out_close;
	sqlite3_bind_text(s, 1, "opened", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, util_wall_ms());
	if (store_run(st, s, "write meta") < 0)
		goto out_close;
	if (store_int(st, SQL_OB_COUNT, &st->depth) < 0)
		goto out_close;
	*out = st;
	return 0;

out_close:
	for (int i = 0; i < SQL_N; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
out_free:
	free(st->path);
	free(st);
	return -1;
}

static int store_log_add(struct store *st, const char *device, int64_t ts, int online);

/* Mark every monitored device "not monitored" in the device log: the time the
 * daemon is stopped counts neither as online nor as offline. */
static void store_log_unmonitored(struct store *st, int64_t ts)
{
	if (!st->cfg)
		return;
	for (size_t d = 0; d < st->cfg->ndevices; d++) {
		if (st->devs[d].logged == -1)
			continue;
		if (store_batch(st) < 0 || store_log_add(st, st->cfg->devices[d].id, ts, -1) < 0)
			return;
		st->devs[d].logged = -1;
	}
}

void store_close(struct store *st)
{
	int rc;

	if (!st)
		return;
	store_log_unmonitored(st, util_wall_ms());
	store_flush(st);
	for (int i = 0; i < SQL_N; i++)
		sqlite3_finalize(st->stmt[i]);
	rc = sqlite3_close(st->db);
	if (rc != SQLITE_OK)
		log_error("store", "%s: close: %s", st->path, sqlite3_errstr(rc));
	free(st->devs);
	free(st->pts);
	free(st->path);
	free(st);
}

/* ---- configuration ---- */

static bool store_cfg_has_point(const struct config *cfg, const char *dev, const char *pt)
{
	for (size_t d = 0; d < cfg->ndevices; d++) {
		const struct device_cfg *dc = &cfg->devices[d];
		if (strcmp(dc->id, dev) != 0)
			continue;
		if (!pt)
			return true;
		for (size_t p = 0; p < dc->npoints; p++)
			if (strcmp(dc->points[p].name, pt) == 0)
				return true;
		return false;
	}
	return false;
}

static int store_meta_text(struct store *st, const char *key, const char *value)
{
	sqlite3_stmt *s = store_stmt(st, SQL_META_SET);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	store_bind_text(s, 2, value);
	return store_run(st, s, "write meta");
}

/* The last device_log state of DEVICE: 1, 0, or -1 (none / not monitored). */
static int store_log_last(struct store *st, const char *device, int *out)
{
	sqlite3_stmt *s = store_stmt(st, SQL_LOG_LAST);
	int r;

	*out = -1;
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	r = store_row(st, s, "read device log");
	if (r <= 0)
		return r;
	*out = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return 0;
}

static int store_log_add(struct store *st, const char *device, int64_t ts, int online)
{
	sqlite3_stmt *s = store_stmt(st, SQL_LOG_ADD);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, ts);
	sqlite3_bind_int(s, 3, online);
	return store_run(st, s, "write device log");
}

struct store_idx {
	int64_t id;
	size_t i;
};

static int store_idx_cmp(const void *a, const void *b)
{
	const struct store_idx *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Readings not yet merged are newer than the archive's: apply them in the
 * order they were stored. */
static int store_load_new(struct store *st, struct store_pt *pts, size_t npts)
{
	struct store_idx *idx = malloc((npts ? npts : 1) * sizeof *idx);
	sqlite3_stmt *s;
	int rc, ret = -1;

	if (!idx) {
		log_error("store", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < npts; i++) {
		idx[i].id = pts[i].id;
		idx[i].i = i;
	}
	qsort(idx, npts, sizeof *idx, store_idx_cmp);
	if (!(s = store_stmt(st, SQL_NEW_LIST)))
		goto out_free;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_idx key = { sqlite3_column_int64(s, 0), 0 };
		struct store_idx *hit = bsearch(&key, idx, npts, sizeof *idx, store_idx_cmp);
		if (!hit)
			continue;
		struct store_pt *sp = &pts[hit->i];
		sp->has = true;
		sp->ts = sqlite3_column_int64(s, 1);
		sp->value = sqlite3_column_type(s, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 2);
		sp->q = sqlite3_column_int(s, 3);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "read new readings");
		goto out_free;
	}
	ret = 0;
out_free:
	free(idx);
	return ret;
}

/* Fill DEVS/PTS (sized for CFG, ids already set) from the file: the last
 * stored reading of every point and the last logged state of every device. */
static int store_load_memory(struct store *st, const struct config *cfg,
			     struct store_dev *devs, struct store_pt *pts)
{
	size_t npts = 0;

	for (size_t d = 0; d < cfg->ndevices; d++) {
		if (store_log_last(st, cfg->devices[d].id, &devs[d].logged) < 0)
			return -1;
		for (size_t p = 0; p < devs[d].npts; p++) {
			struct store_pt *sp = &pts[devs[d].first + p];
			sqlite3_stmt *s = store_stmt(st, SQL_RD_LAST);
			int r;

			if (!s)
				return -1;
			sqlite3_bind_int64(s, 1, sp->id);
			r = store_row(st, s, "read last reading");
			if (r < 0)
				return -1;
			sp->has = r == 1;
			if (r == 1) {
				sp->ts = sqlite3_column_int64(s, 0);
				sp->value = sqlite3_column_type(s, 1) == SQLITE_NULL ?
					NAN : sqlite3_column_double(s, 1);
				sp->q = sqlite3_column_int(s, 2);
				sqlite3_reset(s);
			}
		}
		npts += devs[d].npts;
	}
	return store_load_new(st, pts, npts);
}

/* Devices and points of the file that CFG no longer has keep their history
 * and are hidden: devices.state = 'removed', points.removed = 1. */
static int store_mark_removed(struct store *st, const struct config *cfg, int64_t now)
{
	sqlite3_stmt *s;
	int64_t *ids = NULL;
	char (*names)[YW_ID_MAX] = NULL;
	size_t n = 0, cap = 0;
	int rc, ret = -1;

	/* Devices: collect first, update after the scan. */
	if (!(s = store_stmt(st, SQL_DEV_LIST)))
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(s, 0);
		if (!id || store_cfg_has_point(cfg, id, NULL))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *nn = realloc(names, ncap * sizeof *names);
			if (!nn) {
				log_error("store", "out of memory");
				sqlite3_reset(s);
				goto out_free;
			}
			names = nn;
			cap = ncap;
		}
		util_strlcpy(names[n++], id, YW_ID_MAX);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "list devices");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		int logged;
		if (!(s = store_stmt(st, SQL_DEV_REMOVE)))
			goto out_free;
		sqlite3_bind_text(s, 1, names[i], -1, SQLITE_STATIC);
		if (store_run(st, s, "mark device removed") < 0 ||
		    store_log_last(st, names[i], &logged) < 0)
			goto out_free;
		if (logged != -1 && store_log_add(st, names[i], now, -1) < 0)
			goto out_free;
	}

	/* Points. */
	n = 0;
	cap = 0;
	if (!(s = store_stmt(st, SQL_PT_LIST)))
		goto out_free;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *dev = (const char *)sqlite3_column_text(s, 1);
		const char *pt = (const char *)sqlite3_column_text(s, 2);
		if (dev && pt && store_cfg_has_point(cfg, dev, pt))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *ni = realloc(ids, ncap * sizeof *ids);
			if (!ni) {
				log_error("store", "out of memory");
				sqlite3_reset(s);
				goto out_free;
			}
			ids = ni;
			cap = ncap;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "list points");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(s = store_stmt(st, SQL_PT_REMOVE)))
			goto out_free;
		sqlite3_bind_int64(s, 1, ids[i]);
		if (store_run(st, s, "mark point removed") < 0)
			goto out_free;
	}
	ret = 0;
out_free:
	free(ids);
	free(names);
	return ret;
}

static int store_upsert_device(struct store *st, const struct config *cfg, size_t d,
			       struct store_dev *devs, struct store_pt *pts)
{
	const struct device_cfg *dc = &cfg->devices[d];
	sqlite3_stmt *s = store_stmt(st, SQL_DEV_UPSERT);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)d);
	sqlite3_bind_text(s, 3, dc->bus >= 0 && (size_t)dc->bus < cfg->nbuses ?
			  cfg->buses[dc->bus].id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, dc->unit);
	sqlite3_bind_int(s, 5, dc->enabled);
	store_bind_text(s, 6, dc->location);
	sqlite3_bind_text(s, 7, STORE_NAME(store_category_names, dc->category), -1, SQLITE_STATIC);
	if (store_run(st, s, "write device") < 0)
		return -1;

	for (size_t p = 0; p < dc->npoints; p++) {
		const struct point_cfg *pc = &dc->points[p];
		struct store_pt *sp = &pts[devs[d].first + p];
		int r;

		if (!(s = store_stmt(st, SQL_PT_UPSERT)))
			return -1;
		sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, pc->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (int64_t)p);
		sqlite3_bind_text(s, 4, STORE_NAME(store_type_names, pc->type), -1, SQLITE_STATIC);
		store_bind_text(s, 5, pc->unit);
		if (store_run(st, s, "write point") < 0)
			return -1;
		if (!(s = store_stmt(st, SQL_PT_ID)))
			return -1;
		sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, pc->name, -1, SQLITE_STATIC);
		r = store_row(st, s, "read point id");
		if (r <= 0) {
			if (r == 0)
				log_error("store", "%s: point %s.%s vanished", st->path, dc->id, pc->name);
			return -1;
		}
		sp->id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	return 0;
}

int store_configure(struct store *st, const struct config *cfg)
{
	struct store_dev *devs = NULL;
	struct store_pt *pts = NULL;
	size_t npts = 0;
	int64_t now = util_wall_ms();

	if (store_flush(st) < 0)
		return -1;
	for (size_t d = 0; d < cfg->ndevices; d++)
		npts += cfg->devices[d].npoints;
	devs = calloc(cfg->ndevices ? cfg->ndevices : 1, sizeof *devs);
	pts = calloc(npts ? npts : 1, sizeof *pts);
	if (!devs || !pts) {
		log_error("store", "out of memory");
		goto out_free;
	}
	npts = 0;
	for (size_t d = 0; d < cfg->ndevices; d++) {
		devs[d].first = npts;
		devs[d].npts = cfg->devices[d].npoints;
		npts += devs[d].npts;
	}

	if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin configure") < 0)
		goto out_free;
	if (store_meta_text(st, "site", cfg->site_id) < 0 ||
	    store_meta_text(st, "site_name", cfg->site_name) < 0 ||
	    store_meta_text(st, "gateway", cfg->gateway) < 0)
		goto out_rollback;
	for (size_t d = 0; d < cfg->ndevices; d++)
		if (store_upsert_device(st, cfg, d, devs, pts) < 0)
			goto out_rollback;
	if (store_mark_removed(st, cfg, now) < 0 || store_load_memory(st, cfg, devs, pts) < 0)
		goto out_rollback;
	for (size_t d = 0; d < cfg->ndevices; d++) {
		if (cfg->devices[d].enabled || devs[d].logged == -1)
			continue;
		if (store_log_add(st, cfg->devices[d].id, now, -1) < 0)
			goto out_rollback;
		devs[d].logged = -1;
	}
	if (store_simple(st, SQL_COMMIT, "commit configure") < 0)
		goto out_rollback;

	free(st->devs);
	free(st->pts);
	st->devs = devs;
	st->pts = pts;
	st->npts = npts;
	st->cfg = cfg;
	return 0;

out_rollback:
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback configure");
out_free:
	free(devs);
	free(pts);
	return -1;
}

/* ---- readings and device statistics ---- */

static struct store_pt *store_point(struct store *st, int dev, int pt)
{
	if (!st->cfg || dev < 0 || (size_t)dev >= st->cfg->ndevices || pt < 0 ||
	    (size_t)pt >= st->devs[dev].npts) {
		log_error("store", "reading for an unknown point (device %d, point %d)", dev, pt);
		return NULL;
	}
	return &st->pts[st->devs[dev].first + (size_t)pt];
}

/* Worth storing: first reading, quality changed, value moved by more than the
 * deadband, store_max_interval_s passed, or the clock went back. */
static bool store_worth(const struct point_cfg *pc, const struct store_pt *sp, int64_t ts,
			double value, int q)
{
	if (!sp->has || q != sp->q || ts < sp->ts)
		return true;
	if (ts - sp->ts >= (int64_t)pc->store_max_interval_s * 1000)
		return true;
	if (q != Q_GOOD)
		return false;
	return !isfinite(sp->value) || fabs(value - sp->value) > pc->deadband;
}

int store_put_reading(struct store *st, int dev, int pt, int64_t ts_ms, double value,
		      enum yw_quality q)
{
	struct store_pt *sp = store_point(st, dev, pt);
	sqlite3_stmt *s;
	int qi = (int)q;

	if (!sp)
		return -1;
	if (qi != Q_GOOD && qi != Q_BAD && qi != Q_STALE)
		qi = Q_BAD;
	if (qi == Q_GOOD && !isfinite(value))
		qi = Q_BAD;                  /* never store NaN/Inf as a number */
	if (qi != Q_GOOD)
		value = NAN;
	if (!store_worth(&st->cfg->devices[dev].points[pt], sp, ts_ms, value, qi))
		return 0;
	if (store_batch(st) < 0 || !(s = store_stmt(st, SQL_RD_ADD)))
		return -1;
	sqlite3_bind_int64(s, 1, sp->id);
	sqlite3_bind_int64(s, 2, ts_ms);
	store_bind_real(s, 3, value);
	sqlite3_bind_int(s, 4, qi);
	if (store_run(st, s, "write reading") < 0)
		return -1;
	if (st->new_rows >= 0)
		st->new_rows++;
	sp->has = true;
	sp->ts = ts_ms;
	sp->value = value;
	sp->q = qi;
	return 1;
}

static bool store_dev_ok(struct store *st, int dev)
{
	if (!st->cfg || dev < 0 || (size_t)dev >= st->cfg->ndevices) {
		log_error("store", "statistics for an unknown device %d", dev);
		return false;
	}
	return true;
}

int store_device_state(struct store *st, int dev, int64_t ts_ms, bool online)
{
	const struct device_cfg *dc;
	sqlite3_stmt *s;

	if (!store_dev_ok(st, dev))
		return -1;
	dc = &st->cfg->devices[dev];
	if (!dc->enabled)
		return 0;
	if (store_batch(st) < 0 || !(s = store_stmt(st, SQL_DEV_STATE)))
		return -1;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, online ? "online" : "offline", -1, SQLITE_STATIC);
	if (store_run(st, s, "write device state") < 0)
		return -1;
	if (st->devs[dev].logged == (online ? 1 : 0))
		return 0;
	if (store_log_add(st, dc->id, ts_ms, online ? 1 : 0) < 0)
		return -1;
	st->devs[dev].logged = online ? 1 : 0;
	return 0;
}

int store_device_poll(struct store *st, int dev, const struct store_poll *p)
{
	const struct device_cfg *dc;
	sqlite3_stmt *s;
	int64_t hour;

	if (!store_dev_ok(st, dev))
		return -1;
	dc = &st->cfg->devices[dev];
	if (store_batch(st) < 0 || !(s = store_stmt(st, SQL_DEV_POLL)))
		return -1;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)p->timeouts + p->exceptions + p->crc + p->other);
	sqlite3_bind_int(s, 3, p->timeouts);
	sqlite3_bind_int(s, 4, p->exceptions);
	sqlite3_bind_int(s, 5, p->crc);
	sqlite3_bind_int(s, 6, p->other);
	sqlite3_bind_int(s, 7, p->ok);
	sqlite3_bind_int64(s, 8, p->ts_ms);
	if (store_run(st, s, "write device counters") < 0)
		return -1;

	if (!(s = store_stmt(st, SQL_STATS_ADD)))
		return -1;
	hour = p->ts_ms - (p->ts_ms % STORE_HOUR_MS + STORE_HOUR_MS) % STORE_HOUR_MS;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, hour);
	sqlite3_bind_int(s, 3, p->ok);
	sqlite3_bind_int(s, 4, p->timeouts);
	sqlite3_bind_int(s, 5, p->exceptions);
	sqlite3_bind_int(s, 6, p->crc);
	sqlite3_bind_int(s, 7, p->other);
	if (store_run(st, s, "write device statistics") < 0)
		return -1;

	/* A poll that worked means the device is online, whatever the caller's
	 * own bookkeeping says (e.g. right after a restart). */
	if (p->ok && st->devs[dev].logged != 1)
		return store_device_state(st, dev, p->ts_ms, true);
	return 0;
}

/* ---- retention ---- */

static int store_used_bytes(struct store *st, int64_t *out)
{
	int64_t pages, freep, psize;

	if (store_int(st, SQL_PAGE_COUNT, &pages) < 0 || store_int(st, SQL_FREE_COUNT, &freep) < 0 ||
	    store_int(st, SQL_PAGE_SIZE, &psize) < 0)
		return -1;
	*out = (pages - freep) * psize;
	return 0;
}

/* Every point id in the file (removed ones too). *IDS malloc'd. */
static int store_point_ids(struct store *st, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, SQL_PT_IDS);
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			int64_t *ni = realloc(*ids, ncap * sizeof *ni);
			if (!ni) {
				log_error("store", "out of memory");
				sqlite3_reset(s);
				return -1;
			}
			*ids = ni;
			cap = ncap;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "list points");
		return -1;
	}
	return 0;
}


/* Oldest and newest reading over all points, one seek each per point.
 * 1 found, 0 no reading at all, -1 error. */
static int store_span(struct store *st, const int64_t *ids, size_t n, int64_t *oldest,
		      int64_t *newest)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		int64_t first, last;
		sqlite3_stmt *s = store_stmt(st, SQL_RD_FIRST);
		int r;

		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, ids[i]);
		r = store_row(st, s, "read oldest reading");
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		first = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		if (!(s = store_stmt(st, SQL_RD_LAST)))
			return -1;
		sqlite3_bind_int64(s, 1, ids[i]);
		r = store_row(st, s, "read newest reading");
		if (r < 0)
			return -1;
		last = r ? sqlite3_column_int64(s, 0) : first;
		sqlite3_reset(s);
		if (!any || first < *oldest)
			*oldest = first;
		if (!any || last > *newest)
			*newest = last;
		any = true;
	}
	sqlite3_stmt *s = store_stmt(st, SQL_NEW_SPAN);
	if (!s || store_row(st, s, "read new readings span") < 0)
		return -1;
	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		int64_t first = sqlite3_column_int64(s, 0), last = sqlite3_column_int64(s, 1);
		if (!any || first < *oldest)
			*oldest = first;
		if (!any || last > *newest)
			*newest = last;
		any = true;
	}
	sqlite3_reset(s);
	return any ? 1 : 0;
}

/* Delete the readings older than BEFORE of every point in IDS, in one
 * transaction; adds the count to *DELETED. */
static int store_cut(struct store *st, const int64_t *ids, size_t n, int64_t before,
		     int64_t *deleted)
{
	int64_t count = 0;

	if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin retention") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = store_stmt(st, SQL_RD_CUT);
		if (!s)
			goto out_rollback;
		sqlite3_bind_int64(s, 1, ids[i]);
		sqlite3_bind_int64(s, 2, before);
		if (store_run(st, s, "delete old readings") < 0)
			goto out_rollback;
		count += sqlite3_changes(st->db);
	}
	sqlite3_stmt *s = store_stmt(st, SQL_NEW_CUT);
	if (!s)
		goto out_rollback;
	sqlite3_bind_int64(s, 1, before);
	if (store_run(st, s, "delete old readings") < 0)
		goto out_rollback;
	if (st->new_rows >= 0)
		st->new_rows -= sqlite3_changes(st->db);
	count += sqlite3_changes(st->db);
	if (store_simple(st, SQL_COMMIT, "commit retention") < 0)
		goto out_rollback;
	*deleted += count;
	return 0;

out_rollback:
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback retention");
	st->new_rows = -1;
	return -1;
}

/* Statistics and the device log follow retention_days too; the device log
 * keeps the last transition before the cutoff (the state at the cutoff). */
static int store_prune_stats(struct store *st, int64_t cutoff)
{
	sqlite3_stmt *s;

	if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin retention") < 0)
		return -1;
	if (!(s = store_stmt(st, SQL_STATS_PRUNE)))
		goto out_rollback;
	sqlite3_bind_int64(s, 1, cutoff - STORE_HOUR_MS);
	if (store_run(st, s, "delete old statistics") < 0)
		goto out_rollback;
	if (!(s = store_stmt(st, SQL_LOG_PRUNE)))
		goto out_rollback;
	sqlite3_bind_int64(s, 1, cutoff);
	if (store_run(st, s, "delete old device log") < 0)
		goto out_rollback;
	if (store_simple(st, SQL_COMMIT, "commit retention") < 0)
		goto out_rollback;
	return 0;

out_rollback:
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback retention");
	return -1;
}

/* Give free pages back to the file system only when there are many of them:
 * new readings reuse free pages anyway, and moving pages costs writes. */
static int store_vacuum(struct store *st)
{
	int64_t pages, freep;
	char sql[64];

	if (store_int(st, SQL_PAGE_COUNT, &pages) < 0 || store_int(st, SQL_FREE_COUNT, &freep) < 0)
		return -1;
	if (freep == 0 || freep * 8 < pages)
		return 0;
	snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%d)", STORE_VACUUM_PAGES);
	return store_exec(st, sql, "incremental vacuum");
}

int store_maintain(struct store *st, int64_t now_ms)
{
	int64_t *ids = NULL;
	size_t n;
	int64_t cutoff = INT64_MIN, max_bytes = INT64_MAX, t_end;
	int64_t deleted = 0, by_size = 0;
	int ret = -1;

	if (!st->cfg)
		return 0;
	if (store_flush(st) < 0)
		return -1;
	if (st->cfg->retention_days > 0)
		cutoff = now_ms - (int64_t)st->cfg->retention_days * STORE_DAY_MS;
	if (st->cfg->max_mb > 0)
		max_bytes = (int64_t)st->cfg->max_mb * 1024 * 1024;
	if (store_point_ids(st, &ids, &n) < 0)
		goto out_free;

	/* Each step deletes, per point, the readings before a target: the age
	 * cutoff, or for size the oldest 1/STORE_SLICES of the stored span,
	 * never more than that span slice at once. Steps repeat until nothing
	 * is due or the time budget is spent (the main loop waits for us). */
	t_end = util_mono_ms() + STORE_MAINTAIN_BUDGET_MS;
	for (;;) {
		int64_t oldest = 0, newest = 0, target, slice, used, before = deleted;
		bool for_size = false;
		int r = store_span(st, ids, n, &oldest, &newest);

		if (r < 0)
			goto out_free;
		if (store_used_bytes(st, &used) < 0)
			goto out_free;
		if (r == 0) {
			if (used > max_bytes && !st->size_warned)
				log_warn("store", "%s: above %d MB with no readings left to delete",
					 st->path, st->cfg->max_mb);
			st->size_warned = used > max_bytes;
			break;
		}
		if (oldest < cutoff)
			target = cutoff;
		else if (used > max_bytes)
			target = INT64_MAX, for_size = true;
		else
			break;
		slice = (newest - oldest) / STORE_SLICES;
		if (slice < 1000)
			slice = 1000;
		if (target - oldest > slice)
			target = oldest + slice;
		if (store_cut(st, ids, n, target, &deleted) < 0)
			goto out_free;
		if (for_size)
			by_size += deleted - before;
		if (util_mono_ms() >= t_end)
			break;
	}
	if (cutoff != INT64_MIN && store_prune_stats(st, cutoff) < 0)
		goto out_free;
	if (store_vacuum(st) < 0)
		goto out_free;
	if (by_size)
		log_info("store", "%s: above %d MB: deleted the %lld oldest readings", st->path,
			 st->cfg->max_mb, (long long)by_size);
	ret = 0;
out_free:
	free(ids);
	return ret;
}

/* ---- alarms ---- */

int64_t store_next_seq(struct store *st)
{
	if (st->seq < 0 && store_int(st, SQL_META_SEQ, &st->seq) < 0) {
		st->seq = -1;
		return -1;
	}
	return st->seq + 1;
}

/* The state of an alarm never seen: as alarm_state_init() makes it. */
static void store_alarm_fresh(struct alarm_state *s)
{
	memset(s, 0, sizeof *s);
	s->pending_since = -1;
}

int store_alarm_load(struct store *st, const char *alarm_id, struct alarm_state *s,
		     char **last_event)
{
	sqlite3_stmt *q = store_stmt(st, SQL_AL_LOAD);
	int r;

	store_alarm_fresh(s);
	if (last_event)
		*last_event = NULL;
	if (!q)
		return -1;
	sqlite3_bind_text(q, 1, alarm_id, -1, SQLITE_STATIC);
	r = store_row(st, q, "read alarm state");
	if (r <= 0)
		return r;
	s->active = sqlite3_column_int(q, 0) != 0;
	s->acked = sqlite3_column_int(q, 1) != 0;
	s->cond = sqlite3_column_int(q, 2) != 0;
	s->raised_ts = sqlite3_column_int64(q, 3);
	s->value = sqlite3_column_type(q, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 4);
	if (last_event) {
		const char *j = (const char *)sqlite3_column_text(q, 5);
		*last_event = strdup(j ? j : "");
		if (!*last_event) {
			sqlite3_reset(q);
			log_error("store", "out of memory");
			return -1;
		}
	}
	sqlite3_reset(q);
	return 1;
}

int store_commit_event(struct store *st, int64_t seq, const char *alarm_id,
		       enum alarm_event ev, enum yw_category cat, enum yw_severity sev,
		       int64_t ts_ms, const char *event_json, const struct alarm_state *s,
		       const char *topic)
{
	sqlite3_stmt *q;

	if (store_flush(st) < 0)
		return -1;
	if (store_exec(st, "PRAGMA synchronous = FULL", "set synchronous") < 0)
		return -1;
	if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin event") < 0)
		goto out_sync;

	if (!(q = store_stmt(st, SQL_EV_ADD)))
		goto out_rollback;
	sqlite3_bind_int64(q, 1, seq);
	sqlite3_bind_text(q, 2, alarm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, STORE_NAME(store_event_names, ev), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, STORE_NAME(store_category_names, cat), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, STORE_NAME(store_severity_names, sev), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, ts_ms);
	sqlite3_bind_text(q, 7, event_json, -1, SQLITE_STATIC);
	if (store_run(st, q, "write event") < 0)
		goto out_rollback;

	if (!(q = store_stmt(st, SQL_AL_UPSERT)))
		goto out_rollback;
	sqlite3_bind_text(q, 1, alarm_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, s->active);
	sqlite3_bind_int(q, 3, s->acked);
	sqlite3_bind_int(q, 4, s->cond);
	sqlite3_bind_int64(q, 5, s->raised_ts);
	store_bind_real(q, 6, s->value);
	sqlite3_bind_int64(q, 7, seq);
	sqlite3_bind_int64(q, 8, ts_ms);
	sqlite3_bind_text(q, 9, event_json, -1, SQLITE_STATIC);
	if (store_run(st, q, "write alarm state") < 0)
		goto out_rollback;

	if (topic) {
		if (!(q = store_stmt(st, SQL_OB_ADD)))
			goto out_rollback;
		sqlite3_bind_int(q, 1, PRIO_ALARM);
		sqlite3_bind_text(q, 2, topic, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, event_json, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 4, 1);
		sqlite3_bind_int(q, 5, 0);
		sqlite3_bind_int64(q, 6, util_wall_ms());
		if (store_run(st, q, "queue event") < 0)
			goto out_rollback;
	}

	if (!(q = store_stmt(st, SQL_META_SEQ_SET)))
		goto out_rollback;
	sqlite3_bind_int64(q, 1, seq);
	if (store_run(st, q, "write last seq") < 0)
		goto out_rollback;

	if (store_simple(st, SQL_COMMIT, "commit event") < 0)
		goto out_rollback;
	if (st->depth >= 0 && topic)
		st->depth++;
	if (st->seq >= 0 && seq > st->seq)
		st->seq = seq;
	return store_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous");

out_rollback:
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback event");
out_sync:
	store_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous");
	return -1;
}

/* ---- outbox ---- */

int store_outbox_add(struct store *st, enum store_prio prio, const char *topic,
		     const char *payload, int qos, bool retain)
{
	sqlite3_stmt *s;

	if (store_batch(st) < 0 || !(s = store_stmt(st, SQL_OB_ADD)))
		return -1;
	sqlite3_bind_int(s, 1, (int)prio);
	sqlite3_bind_text(s, 2, topic, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, qos);
	sqlite3_bind_int(s, 5, retain);
	sqlite3_bind_int64(s, 6, util_wall_ms());
	if (store_run(st, s, "queue message") < 0)
		return -1;
	if (st->depth >= 0)
		st->depth++;
	return 0;
}

void store_outbox_row_free(struct outbox_row *row)
{
	if (!row)
		return;
	free(row->topic);
	free(row->payload);
	row->topic = NULL;
	row->payload = NULL;
}

int store_outbox_fetch(struct store *st, int after_prio, int64_t after_id,
		       struct outbox_row *rows, int max)
{
	sqlite3_stmt *s;
	int n = 0, rc = SQLITE_DONE;
	bool oom = false;

	if (max <= 0)
		return 0;
	if (!(s = store_stmt(st, SQL_OB_FETCH)))
		return -1;
	sqlite3_bind_int(s, 1, after_prio);
	sqlite3_bind_int64(s, 2, after_id);
	sqlite3_bind_int(s, 3, max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct outbox_row *r = &rows[n];
		const char *topic = (const char *)sqlite3_column_text(s, 2);
		const char *payload = (const char *)sqlite3_column_text(s, 3);

		r->id = sqlite3_column_int64(s, 0);
		r->prio = sqlite3_column_int(s, 1);
		r->qos = sqlite3_column_int(s, 4);
		r->retain = sqlite3_column_int(s, 5) != 0;
		r->topic = strdup(topic ? topic : "");
		r->payload = strdup(payload ? payload : "");
		n++;
		if (!r->topic || !r->payload) {
			log_error("store", "out of memory");
			oom = true;
			break;
		}
	}
	sqlite3_reset(s);
	if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
		if (!oom)
			store_fail(st, "read outbox");
		for (int i = 0; i < n; i++)
			store_outbox_row_free(&rows[i]);
		return -1;
	}
	return n;
}

int store_outbox_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s;

	if (store_batch(st) < 0 || !(s = store_stmt(st, SQL_OB_DEL)))
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (store_run(st, s, "delete sent message") < 0)
		return -1;
	if (st->depth >= 0)
		st->depth -= sqlite3_changes(st->db);
	return 0;
}

int64_t store_outbox_depth(struct store *st)
{
	if (st->depth < 0 && store_int(st, SQL_OB_COUNT, &st->depth) < 0) {
		st->depth = -1;
		return -1;
	}
	return st->depth;
}
