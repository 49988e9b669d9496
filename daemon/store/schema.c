/*
 * schema: the file itself. Owns the schema and its migrations (one step per
 * version, never edited once shipped), the file settings (page size,
 * auto_vacuum, WAL and its limits, synchronous=NORMAL), opening and closing
 * the connection, and the buffers sized by the page size.
 *
 * The views that decode the packed formats are SQL in views.sql, compiled
 * in as store_views_sql (generated header) and created by the 1 -> 2 step.
 */
#include "store_int.h"
#include "store_views_sql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schema version 1, for the migration to 2. */
static const char sql_v1_merge[] =
	"INSERT OR REPLACE INTO readings (point_id, ts, value, quality)"
	" SELECT point_id, ts, value, quality FROM readings_new ORDER BY point_id, ts, id";

static const char sql_v1_list[] =
	"SELECT point_id, ts, value, quality FROM readings ORDER BY point_id, ts";

/* ---- schema ---- */

/* store_migrations[v] takes a store from user_version v to v + 1: its SQL,
 * then its C step when it has one, in one transaction. Add a step at the end
 * for every schema change and raise STORE_SCHEMA_VERSION; never edit a step
 * that has shipped. */
struct store_step {
	const char *sql;
	const char *sql2;
	int (*fn)(struct store *st);
};

static int store_migrate_v2(struct store *st);

static const struct store_step store_migrations[] = {
	/* 0 -> 1: the first schema. */
	{ "CREATE TABLE meta ("
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
	"  ('last_seq', 0);", NULL, NULL },
	/* 1 -> 2: packed readings (chunks), the journal ring, device numbers;
	 * the C step moves the readings over and drops the old tables. */
	{ "ALTER TABLE devices ADD COLUMN num INTEGER;"
	"UPDATE devices SET num = rowid;"
	"CREATE UNIQUE INDEX devices_num ON devices (num);"
	"CREATE TABLE chunks ("
	"  point_id INTEGER NOT NULL,"
	"  t0 INTEGER NOT NULL,"
	"  t1 INTEGER NOT NULL,"
	"  n INTEGER NOT NULL,"
	"  quality INTEGER NOT NULL,"
	"  ts BLOB NOT NULL,"
	"  vals BLOB,"
	"  PRIMARY KEY (point_id, t0)"
	") WITHOUT ROWID;"
	"CREATE TABLE journal ("
	"  slot INTEGER PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  t0 INTEGER NOT NULL,"
	"  n4 INTEGER NOT NULL,"
	"  n8 INTEGER NOT NULL,"
	"  nq INTEGER NOT NULL,"
	"  nok INTEGER NOT NULL,"
	"  nerr INTEGER NOT NULL,"
	"  data BLOB NOT NULL"
	");"
	"CREATE TABLE nums (i INTEGER PRIMARY KEY);"
	"WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 4095)"
	"  INSERT INTO nums (i) SELECT i FROM c;"
	"CREATE TABLE bytemap (x BLOB NOT NULL);"
	"INSERT INTO bytemap (x) VALUES (X'"
	"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	"202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F"
	"404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"
	"606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F"
	"808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F"
	"A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"
	"C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
	"E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF');"
	"DROP VIEW readings_all;"
	"INSERT INTO meta (key, value) VALUES ('journal_base', 0);",
	  store_views_sql, store_migrate_v2 },
	/* 2 -> 3: failed requests of kind "gateway" (exceptions 10/11) counted
	 * apart; the journal keeps them in the high half of the "other" byte,
	 * so the views are made again (views.sql, as in step 2: they read
	 * journal slots of either version the same way). */
	{ "ALTER TABLE devices ADD COLUMN gateway INTEGER NOT NULL DEFAULT 0;"
	  "ALTER TABLE device_stats ADD COLUMN gateway INTEGER NOT NULL DEFAULT 0;"
	  "DROP VIEW readings_all;"
	  "DROP VIEW journal_polls;"
	  "DROP VIEW journal_readings;"
	  "DROP VIEW chunk_readings;",
	  store_views_sql, NULL },
	/* 3 -> 4: one queue per MQTT link: every outbox row names its link (the
	 * rows of a store written before are the mqtt link's). */
	{ "ALTER TABLE outbox ADD COLUMN link TEXT NOT NULL DEFAULT 'mqtt';"
	  "DROP INDEX outbox_prio_id;"
	  "CREATE INDEX outbox_link_prio_id ON outbox (link, prio, id);", NULL, NULL },
};

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

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

/* Page size and auto_vacuum=INCREMENTAL take effect when set before the
 * first table is created; a file that already has pages (a foreign or
 * emptied database at version 0) needs a VACUUM to switch. */
static int store_set_auto_vacuum(struct store *st)
{
	char sql[48];
	int64_t mode;

	snprintf(sql, sizeof sql, "PRAGMA page_size = %d", STORE_PAGE_SIZE);
	if (store_exec(st, sql, "set page_size") < 0 ||
	    store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", "set auto_vacuum") < 0)
		return -1;
	if (store_pragma_int(st->db, "PRAGMA auto_vacuum", &mode) < 0) {
		store_fail(st, "read auto_vacuum");
		return -1;
	}
	if (mode == 2)
		return 0;
	return store_exec(st, "VACUUM", "vacuum to enable auto_vacuum");
}

/* 1 -> 2, after its SQL: readings_new into readings, readings into chunks
 * (point by point, in time order), then the old tables go. */
static int store_migrate_v2(struct store *st)
{
	sqlite3_stmt *s;
	int rc, ret = -1;

	if (store_simple(st, sql_v1_merge, "migrate readings") < 0 ||
	    !(s = store_stmt(st, sql_v1_list)))
		return -1;
	store_cb_start(st, -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t pid = sqlite3_column_int64(s, 0);
		bool null = sqlite3_column_type(s, 2) == SQLITE_NULL;
		double v = null ? NAN : sqlite3_column_double(s, 2);
		int q = sqlite3_column_int(s, 3);

		if (pid != st->cb->pid) {
			if (store_cb_flush(st) < 0)
				goto out_reset;
			store_cb_start(st, pid);
		}
		if (q != Q_GOOD && q != Q_STALE)
			q = Q_BAD;
		if (q == Q_GOOD && (null || !isfinite(v)))
			q = Q_BAD;
		if (store_cb_add(st, sqlite3_column_int64(s, 1), v, q) < 0)
			goto out_reset;
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, "migrate readings");
		goto out_reset;
	}
	ret = store_cb_flush(st);
out_reset:
	sqlite3_reset(s);
	store_stmt_drop(st, sql_v1_merge);
	store_stmt_drop(st, sql_v1_list);
	if (ret < 0)
		return -1;
	return store_exec(st, "DROP TABLE readings; DROP TABLE readings_new;", "migrate readings");
}

static int store_migrate(struct store *st)
{
	int64_t version, from;
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
	from = version;
	while (version < STORE_SCHEMA_VERSION) {
		const struct store_step *step = &store_migrations[version];

		if (store_exec(st, "BEGIN IMMEDIATE", "begin migration") < 0)
			return -1;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)version + 1);
		if (store_exec(st, step->sql, "migrate schema") < 0 ||
		    (step->sql2 && store_exec(st, step->sql2, "migrate schema") < 0) ||
		    (step->fn && step->fn(st) < 0) ||
		    store_exec(st, sql, "set schema version") < 0 ||
		    store_exec(st, "COMMIT", "commit migration") < 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (from > 0)
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
	int64_t page;
	char sql[80];

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
	if (store_pragma_int(st->db, "PRAGMA page_size", &page) < 0 || page <= 0) {
		store_fail(st, "read page_size");
		return -1;
	}
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", STORE_WAL_BYTES * 3 / 2);
	if (store_exec(st, sql, "set journal_size_limit") < 0)
		return -1;
	snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint = %lld",
		 (long long)(STORE_WAL_BYTES / page));
	if (store_exec(st, sql, "set wal_autocheckpoint") < 0)
		return -1;
	snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", STORE_CACHE_KB);
	if (store_exec(st, sql, "set cache_size") < 0)
		return -1;
	return store_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous") < 0 ||
	       store_exec(st, "PRAGMA temp_store = MEMORY", "set temp_store") < 0 ? -1 : 0;
}

/* Buffers sized by the page size: a journal slot is one page. */
static int store_alloc_buffers(struct store *st)
{
	int64_t page;

	if (store_pragma_int(st->db, "PRAGMA page_size", &page) < 0) {
		store_fail(st, "read page_size");
		return -1;
	}
	st->slot_bytes = (size_t)page - 80;
	if (st->slot_bytes > STORE_SLOT_MAX)
		st->slot_bytes = STORE_SLOT_MAX;
	st->jw.cap = st->slot_bytes / store_kind_size[SE_OK] + 1;
	st->jw.e = calloc(st->jw.cap, sizeof *st->jw.e);
	st->slotbuf = calloc(1, st->slot_bytes);
	st->readbuf = calloc(1, st->slot_bytes);
	if (!st->jw.e || !st->slotbuf || !st->readbuf) {
		log_error("store", "%s: out of memory", st->path);
		return -1;
	}
	return 0;
}

static void store_free(struct store *st)
{
	store_stmt_drop(st, NULL);
	free(st->devs);
	free(st->pts);
	free(st->byid);
	free(st->pend);
	free(st->jw.e);
	free(st->slotbuf);
	free(st->readbuf);
	free(st->cb);
	free(st->path);
	free(st);
}

int store_open(const char *path, struct store **out)
{
	struct store *st;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof *st);
	if (!st) {
		log_error("store", "%s: out of memory", path);
		return -1;
	}
	st->seq = -1;
	st->depth = -1;
	st->path = strdup(path);
	if (!st->path) {
		log_error("store", "%s: out of memory", path);
		free(st);
		return -1;
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
	/* Deleted rows need not be zeroed on flash (SQLite's default here).
	 * The chunk builder is used by the migration too. */
	if (store_exec(st, "PRAGMA secure_delete = FAST", "set secure_delete") < 0 ||
	    !(st->cb = calloc(1, sizeof *st->cb))) {
		if (!st->cb)
			log_error("store", "%s: out of memory", path);
		goto out_close;
	}
	if (store_migrate(st) < 0 || store_set_journal(st) < 0)
		goto out_close;
	if (store_alloc_buffers(st) < 0 || store_journal_load(st) < 0)
		goto out_close;

	if (store_meta_int(st, "opened", util_wall_ms(), "write meta") < 0 ||
	    store_outbox_depth(st) < 0)
		goto out_close;
	*out = st;
	return 0;

out_close:
	store_stmt_drop(st, NULL);
	sqlite3_close(st->db);
	store_free(st);
	return -1;
}

void store_close(struct store *st)
{
	int rc;

	if (!st)
		return;
	store_log_unmonitored(st, util_wall_ms());
	store_flush(st);
	store_stmt_drop(st, NULL);
	rc = sqlite3_close(st->db);
	if (rc != SQLITE_OK)
		log_error("store", "%s: close: %s", st->path, sqlite3_errstr(rc));
	store_free(st);
}
