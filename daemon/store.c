/*
 * store: the gateway's SQLite file. See store.h for the contract and
 * docs/store.md for the schema and the retention / deadband rules.
 *
 * Trade-offs worth knowing before changing this file (flash wear decides
 * the layout; docs/store.md has the measurements):
 * - WAL writes every page a commit dirtied, and a commit happens every
 *   second. So the per-second data (stored readings and the outcome of every
 *   poll) is packed into a fixed ring of one-page rows, `journal`: a commit
 *   overwrites the few slots it needs in place (no page is allocated, no
 *   b-tree page above them changes), and the packed entries are 6 to 15
 *   bytes instead of a ~30-byte row per reading.
 * - Every few minutes (or when half the ring is used) the ring is folded:
 *   readings move into `chunks`, one row per point and run of readings
 *   (packed: 4-byte time offsets and float32/float64 values), poll outcomes
 *   into the device counters and hourly statistics. A point with few new
 *   readings is carried over in the ring (re-written, a few bytes each)
 *   instead of rewriting its archive page for one reading.
 * - Readers decode with the SQL views chunk_readings, journal_readings,
 *   journal_polls and readings_all (byte lookups in `bytemap`, one row per
 *   entry from `nums`); this file decodes in C.
 * - Chunks of one point never overlap in time, so its history is its chunks
 *   in key order. A reading that lands inside the stored span (the clock was
 *   set back) makes the overlapping chunks be merged and written again.
 * - Every write except an alarm event goes into one open transaction that
 *   store_flush() commits (synchronous=NORMAL, WAL).
 */
#include "store.h"
#include "log.h"

#include <float.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_PAGE_SIZE 1024        /* new files: small pages, small commits */
#define STORE_CACHE_KB 128          /* page cache (PRAGMA cache_size) */
#define STORE_WAL_BYTES (16 * 1024 * 1024) /* checkpoint then: the ring turns over several times */
#define STORE_BUSY_MS 1000
#define STORE_MAINTAIN_BUDGET_MS 200
#define STORE_SLICES 128            /* size retention removes ~1/128 of the span per step */
#define STORE_VACUUM_PAGES 2048     /* incremental_vacuum pages per call */
#define STORE_ERR_QUIET_MS 60000    /* identical errors are logged once a minute */
#define STORE_HOUR_MS 3600000LL
#define STORE_DAY_MS 86400000LL

#define STORE_JOURNAL_MAX (2 * 1024 * 1024) /* bytes of journal slots, at most */
#define STORE_JOURNAL_MIN (32 * 1024)
#define STORE_SLOT_MAX 8000         /* data bytes of a slot, at most (big pages) */
#define STORE_FOLD_MS (5 * 60 * 1000)       /* fold at least this often (data time) */
#define STORE_FOLD_MIN 32           /* a point with this many readings in the ring is archived */
#define STORE_FOLD_AGE_MS STORE_HOUR_MS     /* ... or when its oldest one is this old */
#define STORE_FOLD_BATCH 8192       /* readings sorted at once while folding */
#define STORE_CHUNK_MAX 1024        /* readings in a chunk; nums has 4096 rows */
#define STORE_CHUNK_EXTEND 160      /* a chunk smaller than this (bytes) is extended */
#define STORE_ID_MAX (1 << 24)      /* point ids in the journal: 3 bytes */
#define STORE_NUM_MAX 65535         /* device numbers in the journal: 2 bytes */

/* ---- journal entries ----
 * A slot holds five sections, in this order, with their counts in the
 * columns n4, n8, nq, nok, nerr; times are offsets from the slot's t0;
 * every number big-endian. */
enum store_kind {
	SE_F4,    /* good reading, value exact as float32: point u24, dt u32, f32 */
	SE_F8,    /* good reading: point u24, dt u32, f64 */
	SE_Q,     /* bad or stale reading: point u24, dt u32, quality u8 */
	SE_OK,    /* poll that worked without a failed request: device u16, dt u32 */
	SE_ERR,   /* other poll: device u16, dt u32, ok, timeouts, exceptions, crc, other (u8) */
	SE_KINDS
};
static const size_t store_kind_size[SE_KINDS] = { 11, 15, 8, 6, 11 };

/* ---- views: the same formats decoded in SQL ---- */

/* Byte POS (1-based SQL expression) of blob BL, via the lookup blob b.x. */
#define SV_B(bl, pos) "(instr(b.x,substr(" bl "," pos ",1))-1)"
/* Unsigned big-endian numbers at 0-based offset O (an SQL expression). */
#define SV_U16(bl, o) "(" SV_B(bl, o "+1") "*256+" SV_B(bl, o "+2") ")"
#define SV_U24(bl, o) "((" SV_B(bl, o "+1") "*256+" SV_B(bl, o "+2") ")*256+" SV_B(bl, o "+3") ")"
#define SV_U32(bl, o) "(((" SV_B(bl, o "+1") "*256+" SV_B(bl, o "+2") ")*256+" \
	SV_B(bl, o "+3") ")*256+" SV_B(bl, o "+4") ")"
#define SV_SIGN(bl, o) "(CASE WHEN " SV_B(bl, o "+1") ">=128 THEN -1.0 ELSE 1.0 END)"
/* IEEE 754 single: exponent from bytes 1-2, mantissa from bytes 2-4. */
#define SV_F4_E(bl, o) "((" SV_B(bl, o "+1") "%128)*2+" SV_B(bl, o "+2") "/128)"
#define SV_F4_M(bl, o, hi) "(((" SV_B(bl, o "+2") "%128" hi ")*256+" SV_B(bl, o "+3") ")*256+" \
	SV_B(bl, o "+4") ")"
#define SV_F4(bl, o) "(" SV_SIGN(bl, o) "*CASE WHEN " SV_F4_E(bl, o) "=0 THEN " \
	SV_F4_M(bl, o, "") "*pow(2,-149) ELSE " SV_F4_M(bl, o, "+128") "*pow(2," \
	SV_F4_E(bl, o) "-150) END)"
/* IEEE 754 double: exponent from bytes 1-2, mantissa from bytes 2-8. */
#define SV_F8_E(bl, o) "((" SV_B(bl, o "+1") "%128)*16+" SV_B(bl, o "+2") "/16)"
#define SV_F8_M(bl, o, hi) "((((((((" SV_B(bl, o "+2") "%16" hi ")*256+" SV_B(bl, o "+3") \
	")*256+" SV_B(bl, o "+4") ")*256+" SV_B(bl, o "+5") ")*256+" SV_B(bl, o "+6") \
	")*256+" SV_B(bl, o "+7") ")*256+" SV_B(bl, o "+8") "))"
#define SV_F8(bl, o) "(" SV_SIGN(bl, o) "*CASE WHEN " SV_F8_E(bl, o) "=0 THEN " \
	SV_F8_M(bl, o, "") "*pow(2,-1074) ELSE " SV_F8_M(bl, o, "+16") "*pow(2," \
	SV_F8_E(bl, o) "-1075) END)"

/* Live journal slots joined with one row per entry of a section. */
#define SV_LIVE(count) " FROM journal j JOIN nums k ON k.i < " count ", bytemap b" \
	" WHERE j.seq > (SELECT value FROM meta WHERE key = 'journal_base')"
#define SV_OFF_F8 "11*j.n4"
#define SV_OFF_Q "11*j.n4+15*j.n8"
#define SV_OFF_OK "11*j.n4+15*j.n8+8*j.nq"
#define SV_OFF_ERR "11*j.n4+15*j.n8+8*j.nq+6*j.nok"

static const char store_views_v2[] =
	"CREATE VIEW chunk_readings AS SELECT c.point_id AS point_id,"
	" c.t0+" SV_U32("c.ts", "4*k.i") " AS ts,"
	" CASE WHEN c.vals IS NULL THEN NULL WHEN length(c.vals)=4*c.n THEN " SV_F4("c.vals", "4*k.i")
	" ELSE " SV_F8("c.vals", "8*k.i") " END AS value,"
	" c.quality AS quality, c.t0 AS chunk_t0, c.t1 AS chunk_t1, c.n AS chunk_n, k.i AS pos"
	" FROM chunks c JOIN nums k ON k.i < c.n, bytemap b;"
	"CREATE VIEW journal_readings AS"
	" SELECT " SV_U24("j.data", "11*k.i") " AS point_id,"
	" j.t0+" SV_U32("j.data", "11*k.i+3") " AS ts,"
	" " SV_F4("j.data", "11*k.i+7") " AS value, 0 AS quality, j.seq AS seq, k.i AS pos"
	SV_LIVE("j.n4")
	" UNION ALL SELECT " SV_U24("j.data", SV_OFF_F8 "+15*k.i") ","
	" j.t0+" SV_U32("j.data", SV_OFF_F8 "+15*k.i+3") ","
	" " SV_F8("j.data", SV_OFF_F8 "+15*k.i+7") ", 0, j.seq, j.n4+k.i"
	SV_LIVE("j.n8")
	" UNION ALL SELECT " SV_U24("j.data", SV_OFF_Q "+8*k.i") ","
	" j.t0+" SV_U32("j.data", SV_OFF_Q "+8*k.i+3") ", NULL,"
	" " SV_B("j.data", SV_OFF_Q "+8*k.i+8") ", j.seq, j.n4+j.n8+k.i"
	SV_LIVE("j.nq") ";"
	"CREATE VIEW journal_polls AS"
	" SELECT " SV_U16("j.data", SV_OFF_OK "+6*k.i") " AS num,"
	" j.t0+" SV_U32("j.data", SV_OFF_OK "+6*k.i+2") " AS ts,"
	" 1 AS ok, 0 AS timeouts, 0 AS exceptions, 0 AS crc, 0 AS other"
	SV_LIVE("j.nok")
	" UNION ALL SELECT " SV_U16("j.data", SV_OFF_ERR "+11*k.i") ","
	" j.t0+" SV_U32("j.data", SV_OFF_ERR "+11*k.i+2") ","
	" " SV_B("j.data", SV_OFF_ERR "+11*k.i+7") ", " SV_B("j.data", SV_OFF_ERR "+11*k.i+8") ","
	" " SV_B("j.data", SV_OFF_ERR "+11*k.i+9") ", " SV_B("j.data", SV_OFF_ERR "+11*k.i+10") ","
	" " SV_B("j.data", SV_OFF_ERR "+11*k.i+11")
	SV_LIVE("j.nerr") ";"
	"CREATE VIEW readings_all AS"
	" SELECT point_id, ts, value, quality FROM chunk_readings"
	" UNION ALL SELECT point_id, ts, value, quality FROM journal_readings;";

/* ---- schema ---- */

/* store_migrations[v] takes a store from user_version v to v + 1: its SQL,
 * then its C step when it has one, in one transaction. Add a step at the end
 * for every schema change and raise STORE_SCHEMA_VERSION; never edit a step
 * that has shipped. */
struct store;
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
	  store_views_v2, store_migrate_v2 },
};

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

/* ---- cached statements ---- */

enum store_sql {
	SQL_BEGIN, SQL_BEGIN_IMMEDIATE, SQL_COMMIT, SQL_ROLLBACK,
	SQL_META_SET, SQL_META_GET, SQL_META_SEQ, SQL_META_SEQ_SET,
	SQL_DEV_UPSERT, SQL_DEV_NUM, SQL_DEV_LIST, SQL_DEV_REMOVE, SQL_DEV_FOLD, SQL_DEV_STATE,
	SQL_STATS_ADD, SQL_STATS_PRUNE,
	SQL_LOG_ADD, SQL_LOG_LAST, SQL_LOG_PRUNE,
	SQL_PT_UPSERT, SQL_PT_ID, SQL_PT_LIST, SQL_PT_REMOVE, SQL_PT_IDS,
	SQL_J_COUNT, SQL_J_READ, SQL_J_WRITE, SQL_J_ADD, SQL_J_DROP,
	SQL_CH_LAST, SQL_CH_FIRST, SQL_CH_FROM, SQL_CH_DEL_FROM, SQL_CH_ADD, SQL_CH_SET,
	SQL_CH_DEL, SQL_CH_OLD_N, SQL_CH_OLD_DEL, SQL_CH_STRADDLE,
	SQL_V1_MERGE, SQL_V1_LIST,
	SQL_PAGE_COUNT, SQL_FREE_COUNT, SQL_PAGE_SIZE,
	SQL_EV_ADD, SQL_AL_UPSERT, SQL_AL_LOAD,
	SQL_OB_ADD, SQL_OB_FETCH, SQL_OB_DEL, SQL_OB_COUNT,
	SQL_N
};

/* Chunks of a point that overlap [?2, ...): from the one holding ?2 on. */
#define STORE_CH_FROM_WHERE " WHERE point_id = ?1 AND t1 >= ?2 AND t0 >= coalesce((SELECT max(t0)" \
	" FROM chunks WHERE point_id = ?1 AND t0 <= ?2), ?2)"

static const char *const store_sql_text[SQL_N] = {
	[SQL_BEGIN] = "BEGIN",
	[SQL_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[SQL_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[SQL_META_SEQ] = "SELECT max(coalesce((SELECT max(seq) FROM events), 0),"
		" coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0))",
	[SQL_META_SEQ_SET] = "INSERT INTO meta (key, value) VALUES ('last_seq', ?1)"
		" ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
	[SQL_DEV_UPSERT] = "INSERT INTO devices (id, ord, bus, unit_id, enabled, location, category,"
		" state, num) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
		" CASE WHEN ?5 THEN 'offline' ELSE 'disabled' END,"
		" (SELECT coalesce(max(num), 0) + 1 FROM devices))"
		" ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, bus = excluded.bus,"
		" unit_id = excluded.unit_id, enabled = excluded.enabled,"
		" location = excluded.location, category = excluded.category,"
		" state = CASE WHEN excluded.enabled = 0 THEN 'disabled'"
		" WHEN devices.state IN ('disabled', 'removed') THEN 'offline'"
		" ELSE devices.state END",
	[SQL_DEV_NUM] = "SELECT num FROM devices WHERE id = ?1",
	[SQL_DEV_LIST] = "SELECT id FROM devices WHERE state <> 'removed'",
	[SQL_DEV_REMOVE] = "UPDATE devices SET state = 'removed' WHERE id = ?1",
	[SQL_DEV_FOLD] = "UPDATE devices SET polls = polls + ?2, errors = errors + ?3,"
		" timeouts = timeouts + ?4, exceptions = exceptions + ?5, crc = crc + ?6,"
		" other = other + ?7, last_ok = CASE WHEN ?8 IS NOT NULL AND"
		" (last_ok IS NULL OR ?8 > last_ok) THEN ?8 ELSE last_ok END WHERE num = ?1",
	[SQL_DEV_STATE] = "UPDATE devices SET state = ?2 WHERE id = ?1"
		" AND state NOT IN ('disabled', 'removed')",
	[SQL_STATS_ADD] = "INSERT INTO device_stats (device, hour, polls, ok, timeouts, exceptions,"
		" crc, other) SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM devices WHERE num = ?1"
		" ON CONFLICT (hour, device) DO UPDATE SET polls = polls + excluded.polls,"
		" ok = ok + excluded.ok, timeouts = timeouts + excluded.timeouts,"
		" exceptions = exceptions + excluded.exceptions, crc = crc + excluded.crc,"
		" other = other + excluded.other",
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
	[SQL_J_COUNT] = "SELECT count(*) FROM journal",
	[SQL_J_READ] = "SELECT seq, t0, n4, n8, nq, nok, nerr, data FROM journal WHERE slot = ?1",
	[SQL_J_WRITE] = "UPDATE journal SET seq = ?2, t0 = ?3, n4 = ?4, n8 = ?5, nq = ?6,"
		" nok = ?7, nerr = ?8, data = ?9 WHERE slot = ?1",
	[SQL_J_ADD] = "INSERT INTO journal (slot, seq, t0, n4, n8, nq, nok, nerr, data)"
		" VALUES (?1, 0, 0, 0, 0, 0, 0, 0, zeroblob(?2))",
	[SQL_J_DROP] = "DELETE FROM journal WHERE slot >= ?1",
	[SQL_CH_LAST] = "SELECT t0, t1, n, quality, ts, vals FROM chunks WHERE point_id = ?1"
		" ORDER BY t0 DESC LIMIT 1",
	[SQL_CH_FIRST] = "SELECT t0 FROM chunks WHERE point_id = ?1 ORDER BY t0 LIMIT 1",
	[SQL_CH_FROM] = "SELECT t0, t1, n, quality, ts, vals FROM chunks" STORE_CH_FROM_WHERE
		" ORDER BY t0",
	[SQL_CH_DEL_FROM] = "DELETE FROM chunks" STORE_CH_FROM_WHERE,
	[SQL_CH_ADD] = "INSERT INTO chunks (point_id, t0, t1, n, quality, ts, vals)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQL_CH_SET] = "UPDATE chunks SET t1 = ?3, n = ?4, quality = ?5, ts = ?6, vals = ?7"
		" WHERE point_id = ?1 AND t0 = ?2",
	[SQL_CH_DEL] = "DELETE FROM chunks WHERE point_id = ?1 AND t0 = ?2",
	/* Chunks never overlap: those ending before ?2 are the first ones. */
	[SQL_CH_OLD_N] = "SELECT coalesce(sum(n), 0) FROM chunks"
		" WHERE point_id = ?1 AND t0 < ?2 AND t1 < ?2",
	[SQL_CH_OLD_DEL] = "DELETE FROM chunks WHERE point_id = ?1 AND t0 < ?2 AND t1 < ?2",
	[SQL_CH_STRADDLE] = "SELECT t0, t1, n, quality, ts, vals FROM chunks"
		" WHERE point_id = ?1 AND t0 < ?2 ORDER BY t0 LIMIT 1",
	/* schema version 1, for the migration */
	[SQL_V1_MERGE] = "INSERT OR REPLACE INTO readings (point_id, ts, value, quality)"
		" SELECT point_id, ts, value, quality FROM readings_new ORDER BY point_id, ts, id",
	[SQL_V1_LIST] = "SELECT point_id, ts, value, quality FROM readings ORDER BY point_id, ts",
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

/* ---- state ---- */

struct store_pt {
	int64_t id;          /* points.id */
	bool has;            /* a reading is stored */
	int64_t ts;
	double value;
	int q;
	/* while folding: its readings in the journal */
	int64_t jcount, jmin;
	bool due;
};

struct store_dev {
	int logged;          /* last device_log row: 1 online, 0 offline, -1 not monitored */
	int num;             /* devices.num */
	size_t first;        /* index of its first point in store.pts */
	size_t npts;
};

/* One journal entry (pending, or read back). */
struct store_ent {
	int64_t ts;
	double value;
	uint32_t id;         /* point id (readings) or device number (polls) */
	uint8_t kind;        /* enum store_kind */
	uint8_t q;           /* readings: quality; polls: the link worked */
	uint8_t cnt[4];      /* polls: timeouts, exceptions, crc, other */
};

/* Entries of the slot being filled. */
struct store_jw {
	struct store_ent *e;
	size_t n, cap, bytes;
	int64_t tmin, tmax;
};

/* A reading while folding or rewriting chunks. */
struct store_rd {
	int64_t ts;
	double value;
	uint32_t pid;
	uint32_t ord;        /* position in the journal: later wins at equal ts */
	int q;
};

/* The chunk being built. */
struct store_cb {
	int64_t pid, t0, t1;
	int64_t key;         /* t0 of the stored row it replaces, or INT64_MIN */
	int n, q, width;     /* width: bytes per value (0: bad/stale, no values) */
	unsigned char ts[4 * STORE_CHUNK_MAX];
	unsigned char vals[8 * STORE_CHUNK_MAX];
};

/* Per-device, per-hour sums of the polls being folded. */
struct store_pagg {
	int num;
	int64_t hour, polls, ok, cnt[4], last_ok;
};

struct store_idx {
	int64_t id;
	size_t i;
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
	struct store_idx *byid;   /* pts sorted by id */
	int64_t seq;         /* highest committed seq; -1 until read */
	int64_t depth;       /* outbox rows; -1 until counted */
	bool size_warned;    /* "above max_mb with no readings left" said */
	/* journal */
	int64_t nslots;      /* ring size (rows of journal) */
	size_t slot_bytes;   /* data bytes of a slot */
	int64_t base, head;  /* live slots: seq in (base, head] */
	int64_t jmax;        /* newest time written since the last fold (data time) */
	int64_t jmin_rd;     /* oldest reading in the journal; INT64_MAX: none */
	int64_t fold_ts;     /* oldest time written since the last fold */
	bool folding;
	bool damage_said;    /* "damaged journal slots" logged since the last fold */
	struct store_ent *pend;   /* entries for the next journal write */
	size_t npend, cappend;
	struct store_jw jw;
	unsigned char *slotbuf;   /* the slot being written */
	unsigned char *readbuf;   /* the slot being read */
	struct store_cb *cb;
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

/* ---- bytes ---- */

static void store_put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t store_get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_put_f4(unsigned char *p, double v)
{
	float f = (float)v;
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	store_put_be(p, u, 4);
}

static void store_put_f8(unsigned char *p, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof u);
	store_put_be(p, u, 8);
}

static double store_get_f4(const unsigned char *p)
{
	uint32_t u = (uint32_t)store_get_be(p, 4);
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static double store_get_f8(const unsigned char *p)
{
	uint64_t u = store_get_be(p, 8);
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

/* V (finite) survives a trip through float32. */
static bool store_f4_exact(double v)
{
	return fabs(v) <= FLT_MAX && (double)(float)v == v;
}

/* Grow *ARR (elements of SIZE) to hold at least WANT. 0 / -1 (logged). */
static int store_grow(void **arr, size_t *cap, size_t want, size_t size)
{
	size_t ncap = *cap ? *cap : 64;
	void *n;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	n = realloc(*arr, ncap * size);
	if (!n) {
		log_error("store", "out of memory");
		return -1;
	}
	*arr = n;
	*cap = ncap;
	return 0;
}

/* ---- transactions ---- */

static int store_load_memory(struct store *st, const struct config *cfg, struct store_dev *devs,
			     struct store_pt *pts, const struct store_idx *byid, size_t npts);
static int store_journal_load(struct store *st);
static int store_fold(struct store *st, bool all);

/* A failed commit or statement inside the batch: roll back what is left and
 * re-read the in-memory copies (journal position, last values, device log
 * state, outbox depth) so they match the file again. The entries not yet
 * written are lost with the batch. */
static void store_abort(struct store *st)
{
	st->in_batch = false;
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback");
	st->depth = -1;
	st->seq = -1;
	st->npend = 0;
	st->jw.n = 0;
	st->jw.bytes = 0;
	st->folding = false;
	store_journal_load(st);
	if (st->cfg)
		store_load_memory(st, st->cfg, st->devs, st->pts, st->byid, st->npts);
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

static int store_idx_cmp(const void *a, const void *b)
{
	const struct store_idx *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The configured point with id ID, or NULL. */
static struct store_pt *store_find(struct store_pt *pts, const struct store_idx *byid, size_t n,
				   int64_t id)
{
	struct store_idx key = { id, 0 };
	const struct store_idx *hit;

	if (n == 0)
		return NULL;
	hit = bsearch(&key, byid, n, sizeof *byid, store_idx_cmp);
	return hit ? &pts[hit->i] : NULL;
}

/* ---- journal ---- */

/* Write the entries gathered in st->jw as the next slot of the ring. */
static int store_jw_emit(struct store *st)
{
	struct store_jw *w = &st->jw;
	unsigned char *p = st->slotbuf;
	int n[SE_KINDS] = { 0 };
	sqlite3_stmt *s;
	int64_t seq;

	if (w->n == 0)
		return 0;
	if (st->head - st->base >= st->nslots) {
		/* Full (one huge batch): archive everything, nothing is carried. */
		if (st->folding) {
			log_error("store", "%s: journal full while folding", st->path);
			return -1;
		}
		if (store_fold(st, true) < 0)
			return -1;
	}
	memset(p, 0, st->slot_bytes);
	for (int k = 0; k < SE_KINDS; k++)
		for (size_t i = 0; i < w->n; i++) {
			const struct store_ent *e = &w->e[i];
			uint64_t dt = (uint64_t)(e->ts - w->tmin);

			if (e->kind != k)
				continue;
			if (k <= SE_Q) {
				store_put_be(p, e->id, 3);
				store_put_be(p + 3, dt, 4);
				if (k == SE_F4)
					store_put_f4(p + 7, e->value);
				else if (k == SE_F8)
					store_put_f8(p + 7, e->value);
				else
					p[7] = e->q;
			} else {
				store_put_be(p, e->id, 2);
				store_put_be(p + 2, dt, 4);
				if (k == SE_ERR) {
					p[6] = e->q;
					memcpy(p + 7, e->cnt, 4);
				}
			}
			p += store_kind_size[k];
			n[k]++;
		}
	seq = st->head + 1;
	if (!(s = store_stmt(st, SQL_J_WRITE)))
		return -1;
	sqlite3_bind_int64(s, 1, seq % st->nslots);
	sqlite3_bind_int64(s, 2, seq);
	sqlite3_bind_int64(s, 3, w->tmin);
	for (int k = 0; k < SE_KINDS; k++)
		sqlite3_bind_int(s, 4 + k, n[k]);
	sqlite3_bind_blob(s, 9, st->slotbuf, (int)st->slot_bytes, SQLITE_STATIC);
	if (store_run(st, s, "write journal") < 0)
		return -1;
	st->head = seq;
	w->n = 0;
	w->bytes = 0;
	return 0;
}

/* Add E to the slot being filled; a full slot is written first. */
static int store_jw_add(struct store *st, const struct store_ent *e)
{
	struct store_jw *w = &st->jw;
	size_t size = store_kind_size[e->kind];

	if (w->n > 0) {
		int64_t lo = e->ts < w->tmin ? e->ts : w->tmin;
		int64_t hi = e->ts > w->tmax ? e->ts : w->tmax;
		if (w->bytes + size > st->slot_bytes || w->n == w->cap ||
		    (uint64_t)hi - (uint64_t)lo > UINT32_MAX)
			if (store_jw_emit(st) < 0)
				return -1;
	}
	if (w->n == 0)
		w->tmin = w->tmax = e->ts;
	if (e->ts < w->tmin)
		w->tmin = e->ts;
	if (e->ts > w->tmax)
		w->tmax = e->ts;
	w->e[w->n++] = *e;
	w->bytes += size;
	if (!st->folding) {          /* carried entries do not move data time */
		if (e->ts > st->jmax)
			st->jmax = e->ts;
		if (st->fold_ts == INT64_MIN)
			st->fold_ts = e->ts;
	}
	if (e->kind <= SE_Q && e->ts < st->jmin_rd)
		st->jmin_rd = e->ts;
	return 0;
}

typedef int (*store_walk_fn)(struct store *st, const struct store_ent *e, uint32_t ord,
			     void *ctx);

/* Call FN for every entry of the live slots, oldest first: up to seq HEAD,
 * or with HEAD < 0 as far as the sequence goes (*LAST: the last seq). A
 * damaged slot (only a damaged file has one) is skipped, or with HEAD < 0
 * ends the journal there (its slots are then written again). */
static int store_walk(struct store *st, int64_t head, store_walk_fn fn, void *ctx, int64_t *last)
{
	int64_t seq = st->base, damaged = 0;
	uint32_t ord = 0;

	while (st->nslots > 0 && (head < 0 || seq < head)) {
		sqlite3_stmt *s = store_stmt(st, SQL_J_READ);
		int n[SE_KINDS], r;
		int64_t t0;
		size_t need = 0, len;

		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, (seq + 1) % st->nslots);
		r = store_row(st, s, "read journal");
		if (r < 0)
			return -1;
		if (r == 0 || sqlite3_column_int64(s, 0) != seq + 1) {
			sqlite3_reset(s);
			if (head < 0)
				break;
			damaged++;
			seq++;
			continue;
		}
		t0 = sqlite3_column_int64(s, 1);
		for (int k = 0; k < SE_KINDS; k++) {
			n[k] = sqlite3_column_int(s, 2 + k);
			need += n[k] < 0 ? st->slot_bytes + 1 : (size_t)n[k] * store_kind_size[k];
		}
		len = (size_t)sqlite3_column_bytes(s, 7);
		if (need > len || len > st->slot_bytes) {
			sqlite3_reset(s);
			if (head < 0)
				break;
			damaged++;
			seq++;
			continue;
		}
		if (need > 0)
			memcpy(st->readbuf, sqlite3_column_blob(s, 7), need);
		sqlite3_reset(s);
		seq++;
		if (!fn)
			continue;
		const unsigned char *p = st->readbuf;
		for (int k = 0; k < SE_KINDS; k++)
			for (int i = 0; i < n[k]; i++, p += store_kind_size[k]) {
				struct store_ent e = { .kind = (uint8_t)k };
				if (k <= SE_Q) {
					e.id = (uint32_t)store_get_be(p, 3);
					e.ts = t0 + (int64_t)store_get_be(p + 3, 4);
					e.value = k == SE_F4 ? store_get_f4(p + 7) :
						k == SE_F8 ? store_get_f8(p + 7) : NAN;
					e.q = k == SE_Q ? p[7] : Q_GOOD;
				} else {
					e.id = (uint32_t)store_get_be(p, 2);
					e.ts = t0 + (int64_t)store_get_be(p + 2, 4);
					e.q = 1;
					if (k == SE_ERR) {
						e.q = p[6];
						memcpy(e.cnt, p + 7, 4);
					}
				}
				if (fn(st, &e, ord++, ctx) < 0)
					return -1;
			}
	}
	if (damaged && !st->damage_said) {
		st->damage_said = true;
		log_warn("store", "%s: %lld damaged journal slots skipped", st->path,
			 (long long)damaged);
	}
	if (last)
		*last = seq;
	return 0;
}

static int store_jload_entry(struct store *st, const struct store_ent *e, uint32_t ord, void *ctx)
{
	(void)ord;
	(void)ctx;
	if (e->ts > st->jmax)
		st->jmax = e->ts;
	if (e->kind <= SE_Q && e->ts < st->jmin_rd)
		st->jmin_rd = e->ts;
	return 0;
}

/* Size, fold position and head of the journal, from the file. */
static int store_journal_load(struct store *st)
{
	sqlite3_stmt *s;
	int r;

	st->base = st->head = 0;
	st->jmax = INT64_MIN;
	st->jmin_rd = INT64_MAX;
	if (store_int(st, SQL_J_COUNT, &st->nslots) < 0)
		return -1;
	if (!(s = store_stmt(st, SQL_META_GET)))
		return -1;
	sqlite3_bind_text(s, 1, "journal_base", -1, SQLITE_STATIC);
	r = store_row(st, s, "read journal position");
	if (r < 0)
		return -1;
	if (r == 1) {
		st->base = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	if (store_walk(st, -1, store_jload_entry, NULL, &st->head) < 0)
		return -1;
	/* The next fold comes STORE_FOLD_MS after the newest entry (carried
	 * ones cannot be told apart here). */
	st->fold_ts = st->jmax;
	return 0;
}

/* ---- chunks ---- */

/* Write the chunk being built (replacing the row it was loaded from). */
static int store_cb_flush(struct store *st)
{
	struct store_cb *cb = st->cb;
	bool set = cb->key == cb->t0;
	sqlite3_stmt *s;

	if (cb->n == 0)
		return 0;
	if (cb->key != INT64_MIN && !set) {
		if (!(s = store_stmt(st, SQL_CH_DEL)))
			return -1;
		sqlite3_bind_int64(s, 1, cb->pid);
		sqlite3_bind_int64(s, 2, cb->key);
		if (store_run(st, s, "write chunk") < 0)
			return -1;
	}
	if (!(s = store_stmt(st, set ? SQL_CH_SET : SQL_CH_ADD)))
		return -1;
	sqlite3_bind_int64(s, 1, cb->pid);
	sqlite3_bind_int64(s, 2, cb->t0);
	sqlite3_bind_int64(s, 3, cb->t1);
	sqlite3_bind_int(s, 4, cb->n);
	sqlite3_bind_int(s, 5, cb->q);
	sqlite3_bind_blob(s, 6, cb->ts, 4 * cb->n, SQLITE_STATIC);
	if (cb->width)
		sqlite3_bind_blob(s, 7, cb->vals, cb->width * cb->n, SQLITE_STATIC);
	if (store_run(st, s, "write chunk") < 0)
		return -1;
	cb->n = 0;
	cb->key = INT64_MIN;
	return 0;
}

static void store_cb_start(struct store *st, int64_t pid)
{
	st->cb->pid = pid;
	st->cb->n = 0;
	st->cb->key = INT64_MIN;
}

static int store_width(double v, int q)
{
	return q != Q_GOOD ? 0 : store_f4_exact(v) ? 4 : 8;
}

/* Append a reading (times strictly rising) to the chunk being built; a new
 * chunk starts with another quality, a value the chunk's width cannot hold,
 * a full chunk or a time offset past 32 bits. */
static int store_cb_add(struct store *st, int64_t ts, double v, int q)
{
	struct store_cb *cb = st->cb;
	int w = store_width(v, q);

	if (cb->n > 0 && ts <= cb->t1)
		return 0;
	if (cb->n > 0 && (q != cb->q || w > cb->width || cb->n >= STORE_CHUNK_MAX ||
			  (uint64_t)(ts - cb->t0) > UINT32_MAX))
		if (store_cb_flush(st) < 0)
			return -1;
	if (cb->n == 0) {
		cb->t0 = ts;
		cb->q = q;
		cb->width = w;
	}
	store_put_be(cb->ts + 4 * cb->n, (uint64_t)(ts - cb->t0), 4);
	if (cb->width == 4)
		store_put_f4(cb->vals + 4 * cb->n, v);
	else if (cb->width == 8)
		store_put_f8(cb->vals + 8 * cb->n, v);
	cb->n++;
	cb->t1 = ts;
	return 0;
}

/* Columns t0, t1, n, quality, ts, vals of S: a well-formed chunk? Its value
 * width in *WIDTH. */
static bool store_chunk_ok(sqlite3_stmt *s, int *width)
{
	int n = sqlite3_column_int(s, 2);
	int tl = sqlite3_column_bytes(s, 4), vl = sqlite3_column_bytes(s, 5);

	*width = sqlite3_column_type(s, 5) == SQLITE_NULL ? 0 : n > 0 ? vl / n : -1;
	return n > 0 && n <= STORE_CHUNK_MAX && tl == 4 * n &&
	       (*width == 0 || *width == 4 || *width == 8) && vl == *width * n;
}

/* Append the readings of the chunk row at S to *ARR. */
static int store_chunk_read(struct store *st, sqlite3_stmt *s, struct store_rd **arr, size_t *n,
			    size_t *cap)
{
	int64_t t0 = sqlite3_column_int64(s, 0);
	int cnt = sqlite3_column_int(s, 2), q = sqlite3_column_int(s, 3), w;
	const unsigned char *ts, *vals;

	if (!store_chunk_ok(s, &w)) {
		log_error("store", "%s: damaged chunk of point %lld at %lld skipped", st->path,
			  (long long)st->cb->pid, (long long)t0);
		return 0;
	}
	if (store_grow((void **)arr, cap, *n + (size_t)cnt, sizeof **arr) < 0)
		return -1;
	ts = sqlite3_column_blob(s, 4);
	vals = sqlite3_column_blob(s, 5);
	for (int i = 0; i < cnt; i++) {
		struct store_rd *r = &(*arr)[(*n)++];
		r->ts = t0 + (int64_t)store_get_be(ts + 4 * i, 4);
		r->value = w == 4 ? store_get_f4(vals + 4 * i) : w == 8 ? store_get_f8(vals + 8 * i) : NAN;
		r->q = q;
		r->pid = (uint32_t)st->cb->pid;
		r->ord = 0;
	}
	return 0;
}

/* R (sorted, times unique) lands inside the stored span of the point: merge
 * it with the chunks from the one holding R[0] on (R wins at equal times)
 * and write them again. */
static int store_archive_merge(struct store *st, const struct store_rd *r, size_t n)
{
	struct store_rd *old = NULL;
	size_t nold = 0, cap = 0, i = 0, j = 0;
	sqlite3_stmt *s;
	int rc, ret = -1;

	if (!(s = store_stmt(st, SQL_CH_FROM)))
		return -1;
	sqlite3_bind_int64(s, 1, st->cb->pid);
	sqlite3_bind_int64(s, 2, r[0].ts);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (store_chunk_read(st, s, &old, &nold, &cap) < 0) {
			sqlite3_reset(s);
			goto out_free;
		}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "read chunks");
		goto out_free;
	}
	if (!(s = store_stmt(st, SQL_CH_DEL_FROM)))
		goto out_free;
	sqlite3_bind_int64(s, 1, st->cb->pid);
	sqlite3_bind_int64(s, 2, r[0].ts);
	if (store_run(st, s, "rewrite chunks") < 0)
		goto out_free;
	while (i < nold || j < n) {
		const struct store_rd *x;
		if (j == n || (i < nold && old[i].ts < r[j].ts)) {
			x = &old[i++];
		} else {
			if (i < nold && old[i].ts == r[j].ts)
				i++;
			x = &r[j++];
		}
		if (store_cb_add(st, x->ts, x->value, x->q) < 0)
			goto out_free;
	}
	ret = store_cb_flush(st);
out_free:
	free(old);
	return ret;
}

/* Archive the readings R of point PID (sorted by time, then journal order;
 * the last of equal times wins). A small last chunk is extended; a reading
 * inside the stored span merges. */
static int store_archive(struct store *st, uint32_t pid, struct store_rd *r, size_t n)
{
	struct store_cb *cb = st->cb;
	sqlite3_stmt *s;
	size_t m = 0;
	int row;

	for (size_t i = 0; i < n; i++) {
		if (m > 0 && r[m - 1].ts == r[i].ts)
			r[m - 1] = r[i];
		else
			r[m++] = r[i];
	}
	n = m;
	if (n == 0)
		return 0;
	store_cb_start(st, pid);
	if (!(s = store_stmt(st, SQL_CH_LAST)))
		return -1;
	sqlite3_bind_int64(s, 1, pid);
	row = store_row(st, s, "read chunks");
	if (row < 0)
		return -1;
	if (row == 1) {
		int64_t t0 = sqlite3_column_int64(s, 0), t1 = sqlite3_column_int64(s, 1);
		int cn = sqlite3_column_int(s, 2), q = sqlite3_column_int(s, 3), w;

		if (r[0].ts <= t1) {
			sqlite3_reset(s);
			return store_archive_merge(st, r, n);
		}
		if (store_chunk_ok(s, &w) && cn * (4 + w) <= STORE_CHUNK_EXTEND &&
		    cn < STORE_CHUNK_MAX && q == r[0].q && store_width(r[0].value, r[0].q) <= w &&
		    (uint64_t)(r[0].ts - t0) <= UINT32_MAX) {
			cb->t0 = t0;
			cb->t1 = t1;
			cb->n = cn;
			cb->q = q;
			cb->width = w;
			cb->key = t0;
			memcpy(cb->ts, sqlite3_column_blob(s, 4), (size_t)(4 * cn));
			if (w)
				memcpy(cb->vals, sqlite3_column_blob(s, 5), (size_t)(w * cn));
		}
		sqlite3_reset(s);
	}
	for (size_t i = 0; i < n; i++)
		if (store_cb_add(st, r[i].ts, r[i].value, r[i].q) < 0)
			return -1;
	return store_cb_flush(st);
}

/* ---- folding the journal ---- */

struct store_fold {
	bool all;
	struct store_pagg *agg;   /* sorted by (num, hour) */
	size_t nagg, capagg;
	int64_t lo, hi;           /* the batch: point ids in [lo, hi) */
	struct store_rd *rd;
	size_t nrd, caprd;
	int64_t newest;           /* newest entry of the journal */
	int64_t cmin;             /* oldest carried reading */
};

static int store_pagg_cmp(int num, int64_t hour, const struct store_pagg *a)
{
	return num != a->num ? (num < a->num ? -1 : 1) : hour < a->hour ? -1 : hour > a->hour;
}

static int store_fold_poll(struct store_fold *f, const struct store_ent *e)
{
	int64_t hour = e->ts - (e->ts % STORE_HOUR_MS + STORE_HOUR_MS) % STORE_HOUR_MS;
	size_t lo = 0, hi = f->nagg;
	struct store_pagg *a;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = store_pagg_cmp(e->id, hour, &f->agg[mid]);
		if (c == 0) {
			lo = mid;
			hi = mid + 1;
			break;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == hi) {
		if (store_grow((void **)&f->agg, &f->capagg, f->nagg + 1, sizeof *f->agg) < 0)
			return -1;
		memmove(&f->agg[lo + 1], &f->agg[lo], (f->nagg - lo) * sizeof *f->agg);
		f->nagg++;
		memset(&f->agg[lo], 0, sizeof *f->agg);
		f->agg[lo].num = (int)e->id;
		f->agg[lo].hour = hour;
		f->agg[lo].last_ok = INT64_MIN;
	}
	a = &f->agg[lo];
	a->polls++;
	if (e->q) {
		a->ok++;
		if (e->ts > a->last_ok)
			a->last_ok = e->ts;
	}
	for (int i = 0; i < 4; i++)
		a->cnt[i] += e->cnt[i];
	return 0;
}

/* Pass 1: sum the polls, count each point's readings. */
static int store_fold_scan(struct store *st, const struct store_ent *e, uint32_t ord, void *ctx)
{
	struct store_fold *f = ctx;
	struct store_pt *sp;

	(void)ord;
	if (e->ts > f->newest)
		f->newest = e->ts;
	if (e->kind >= SE_OK)
		return store_fold_poll(f, e);
	sp = store_find(st->pts, st->byid, st->npts, e->id);
	if (sp) {
		if (sp->jcount == 0 || e->ts < sp->jmin)
			sp->jmin = e->ts;
		sp->jcount++;
	}
	return 0;
}

static bool store_fold_due(struct store *st, const struct store_fold *f, uint32_t pid)
{
	struct store_pt *sp;

	if (f->all)
		return true;
	sp = store_find(st->pts, st->byid, st->npts, pid);
	return !sp || sp->due;     /* points no longer configured go now */
}

/* Pass 2: the readings of the batch's points that are due. */
static int store_fold_collect(struct store *st, const struct store_ent *e, uint32_t ord, void *ctx)
{
	struct store_fold *f = ctx;
	struct store_rd *r;

	if (e->kind >= SE_OK || e->id < f->lo || e->id >= f->hi || !store_fold_due(st, f, e->id))
		return 0;
	if (store_grow((void **)&f->rd, &f->caprd, f->nrd + 1, sizeof *f->rd) < 0)
		return -1;
	r = &f->rd[f->nrd++];
	r->ts = e->ts;
	r->value = e->value;
	r->pid = e->id;
	r->ord = ord;
	r->q = e->q;
	return 0;
}

/* Pass 3: the readings that stay, written again after the head. */
static int store_fold_carry(struct store *st, const struct store_ent *e, uint32_t ord, void *ctx)
{
	struct store_fold *f = ctx;

	(void)ord;
	if (e->kind >= SE_OK || store_fold_due(st, f, e->id))
		return 0;
	if (e->ts < f->cmin)
		f->cmin = e->ts;
	return store_jw_add(st, e);
}

static int store_rd_cmp(const void *a, const void *b)
{
	const struct store_rd *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int store_fold_polls(struct store *st, const struct store_fold *f)
{
	for (size_t i = 0; i < f->nagg;) {
		int64_t tot[6] = { 0 }, last_ok = INT64_MIN;   /* polls, errors, 4 kinds */
		int num = f->agg[i].num;
		sqlite3_stmt *s;

		for (; i < f->nagg && f->agg[i].num == num; i++) {
			const struct store_pagg *a = &f->agg[i];
			if (!(s = store_stmt(st, SQL_STATS_ADD)))
				return -1;
			sqlite3_bind_int(s, 1, num);
			sqlite3_bind_int64(s, 2, a->hour);
			sqlite3_bind_int64(s, 3, a->polls);
			sqlite3_bind_int64(s, 4, a->ok);
			for (int k = 0; k < 4; k++) {
				sqlite3_bind_int64(s, 5 + k, a->cnt[k]);
				tot[1] += a->cnt[k];
				tot[2 + k] += a->cnt[k];
			}
			if (store_run(st, s, "write device statistics") < 0)
				return -1;
			tot[0] += a->polls;
			if (a->last_ok > last_ok)
				last_ok = a->last_ok;
		}
		if (!(s = store_stmt(st, SQL_DEV_FOLD)))
			return -1;
		sqlite3_bind_int(s, 1, num);
		for (int k = 0; k < 6; k++)
			sqlite3_bind_int64(s, 2 + k, tot[k]);
		if (last_ok != INT64_MIN)
			sqlite3_bind_int64(s, 8, last_ok);
		if (store_run(st, s, "write device counters") < 0)
			return -1;
	}
	return 0;
}

/* Archive the due points' readings, batch by batch of point ids. */
static int store_fold_readings(struct store *st, struct store_fold *f, int64_t head)
{
	size_t i = 0;

	f->lo = 0;
	while (f->lo < (int64_t)STORE_ID_MAX) {
		int64_t want = 0;

		/* The batch ends where the due readings pass STORE_FOLD_BATCH. */
		while (i < st->npts && (want == 0 || want + st->pts[st->byid[i].i].jcount <=
					STORE_FOLD_BATCH)) {
			const struct store_pt *sp = &st->pts[st->byid[i].i];
			if (f->all || sp->due)
				want += sp->jcount;
			i++;
		}
		f->hi = i < st->npts ? st->byid[i].id : STORE_ID_MAX;
		f->nrd = 0;
		if (store_walk(st, head, store_fold_collect, f, NULL) < 0)
			return -1;
		if (f->nrd > 1)
			qsort(f->rd, f->nrd, sizeof *f->rd, store_rd_cmp);
		for (size_t a = 0, b; a < f->nrd; a = b) {
			for (b = a + 1; b < f->nrd && f->rd[b].pid == f->rd[a].pid; b++)
				;
			if (store_archive(st, f->rd[a].pid, &f->rd[a], b - a) < 0)
				return -1;
		}
		f->lo = f->hi;
	}
	return 0;
}

/* Inside the open transaction: move the live journal into the archive and
 * the device counters. ALL: every reading; else the points with at least
 * STORE_FOLD_MIN readings or one older than STORE_FOLD_AGE, the rest being
 * carried (written again after the head). */
static int store_fold(struct store *st, bool all)
{
	struct store_fold f = { .all = all, .newest = INT64_MIN, .cmin = INT64_MAX };
	int64_t head = st->head, carry = 0;
	sqlite3_stmt *s;
	int ret = -1;

	if (head == st->base) {
		st->jmax = st->fold_ts = INT64_MIN;
		return 0;
	}
	st->folding = true;
	for (size_t i = 0; i < st->npts; i++)
		st->pts[i].jcount = 0;
	if (store_walk(st, head, store_fold_scan, &f, NULL) < 0)
		goto out_free;
	for (size_t i = 0; i < st->npts; i++) {
		struct store_pt *sp = &st->pts[i];
		sp->due = sp->jcount >= STORE_FOLD_MIN ||
			(sp->jcount > 0 && f.newest - sp->jmin >= STORE_FOLD_AGE_MS);
		if (!sp->due)
			carry += sp->jcount * (int64_t)store_kind_size[SE_F8];
	}
	/* Carried readings must leave most of the ring free. */
	if (carry > st->nslots * (int64_t)st->slot_bytes / 4)
		f.all = true;
	if (store_fold_polls(st, &f) < 0 || store_fold_readings(st, &f, head) < 0)
		goto out_free;
	if (!f.all && (store_walk(st, head, store_fold_carry, &f, NULL) < 0 ||
		       store_jw_emit(st) < 0))
		goto out_free;
	if (!(s = store_stmt(st, SQL_META_SET)))
		goto out_free;
	sqlite3_bind_text(s, 1, "journal_base", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, head);
	if (store_run(st, s, "write journal position") < 0)
		goto out_free;
	st->base = head;
	st->damage_said = false;
	st->jmin_rd = f.cmin;
	st->jmax = st->fold_ts = INT64_MIN;   /* restarted by the next new entry */
	ret = 0;
out_free:
	st->folding = false;
	free(f.agg);
	free(f.rd);
	return ret;
}

/* Write the pending entries into the journal; fold when half the ring is
 * used or (TIMED) STORE_FOLD_MS of data time passed since the last fold. */
static int store_write_pending(struct store *st, bool timed)
{
	size_t bytes = 0;

	for (size_t i = 0; i < st->npend; i++)
		bytes += store_kind_size[st->pend[i].kind];
	if (st->head > st->base &&
	    st->head - st->base + (int64_t)(bytes / st->slot_bytes) + 1 > st->nslots / 2 &&
	    store_fold(st, false) < 0)
		return -1;
	for (size_t i = 0; i < st->npend; i++)
		if (store_jw_add(st, &st->pend[i]) < 0)
			return -1;
	st->npend = 0;
	if (store_jw_emit(st) < 0)
		return -1;
	if (timed && st->head > st->base && st->jmax - st->fold_ts >= STORE_FOLD_MS)
		return store_fold(st, false);
	return 0;
}

/* Commit the open batch; TIMED: a fold that is due may come with it. */
static int store_commit_batch(struct store *st, bool timed)
{
	if (st->npend > 0 && (store_batch(st) < 0 || store_write_pending(st, timed) < 0)) {
		store_abort(st);
		return -1;
	}
	if (!st->in_batch)
		return 0;
	if (store_simple(st, SQL_COMMIT, "commit batch") < 0) {
		store_abort(st);
		return -1;
	}
	st->in_batch = false;
	return 0;
}

int store_flush(struct store *st)
{
	return store_commit_batch(st, true);
}

/* An entry for the next journal write. */
static int store_pend(struct store *st, const struct store_ent *e)
{
	if (store_grow((void **)&st->pend, &st->cappend, st->npend + 1, sizeof *st->pend) < 0)
		return -1;
	st->pend[st->npend++] = *e;
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

	if (store_simple(st, SQL_V1_MERGE, "migrate readings") < 0 ||
	    !(s = store_stmt(st, SQL_V1_LIST)))
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
	for (int i = SQL_V1_MERGE; i <= SQL_V1_LIST; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
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
	for (int i = 0; i < SQL_N; i++)
		sqlite3_finalize(st->stmt[i]);
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
	for (int i = 0; i < SQL_N; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
	sqlite3_close(st->db);
	store_free(st);
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
	for (int i = 0; i < SQL_N; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
	rc = sqlite3_close(st->db);
	if (rc != SQLITE_OK)
		log_error("store", "%s: close: %s", st->path, sqlite3_errstr(rc));
	store_free(st);
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

struct store_load {
	struct store_pt *pts;
	const struct store_idx *byid;
	size_t npts;
};

/* A reading of the journal is newer than the archive's (at equal times the
 * later one wins). */
static int store_load_entry(struct store *st, const struct store_ent *e, uint32_t ord, void *ctx)
{
	struct store_load *l = ctx;
	struct store_pt *sp;

	(void)st;
	(void)ord;
	if (e->kind >= SE_OK || !(sp = store_find(l->pts, l->byid, l->npts, e->id)))
		return 0;
	if (!sp->has || e->ts >= sp->ts) {
		sp->has = true;
		sp->ts = e->ts;
		sp->value = e->value;
		sp->q = e->q;
	}
	return 0;
}

/* Fill DEVS/PTS (sized for CFG, ids already set, BYID their index by id)
 * from the file: the last stored reading of every point and the last logged
 * state of every device. */
static int store_load_memory(struct store *st, const struct config *cfg, struct store_dev *devs,
			     struct store_pt *pts, const struct store_idx *byid, size_t npts)
{
	struct store_load l = { pts, byid, npts };

	for (size_t d = 0; d < cfg->ndevices; d++) {
		if (store_log_last(st, cfg->devices[d].id, &devs[d].logged) < 0)
			return -1;
		for (size_t p = 0; p < devs[d].npts; p++) {
			struct store_pt *sp = &pts[devs[d].first + p];
			sqlite3_stmt *s = store_stmt(st, SQL_CH_LAST);
			int r, w;

			if (!s)
				return -1;
			sqlite3_bind_int64(s, 1, sp->id);
			r = store_row(st, s, "read last reading");
			if (r < 0)
				return -1;
			sp->has = false;
			if (r == 1 && store_chunk_ok(s, &w)) {
				int i = sqlite3_column_int(s, 2) - 1;
				const unsigned char *v = sqlite3_column_blob(s, 5);

				sp->has = true;
				sp->ts = sqlite3_column_int64(s, 0) +
					(int64_t)store_get_be((const unsigned char *)
							      sqlite3_column_blob(s, 4) + 4 * i, 4);
				sp->value = w == 4 ? store_get_f4(v + 4 * i) :
					w == 8 ? store_get_f8(v + 8 * i) : NAN;
				sp->q = sqlite3_column_int(s, 3);
			}
			if (r == 1)
				sqlite3_reset(s);
		}
	}
	return store_walk(st, st->head, store_load_entry, &l, NULL);
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

/* The journal's size follows max_mb (1/64 of it, 32 KB .. 2 MB): a small
 * store is not filled by its journal. Changing it empties the journal first. */
static int store_journal_size(struct store *st, const struct config *cfg)
{
	int64_t bytes = (int64_t)cfg->max_mb * 1024 * 1024 / 64, page, want;
	sqlite3_stmt *s;

	if (bytes > STORE_JOURNAL_MAX)
		bytes = STORE_JOURNAL_MAX;
	if (bytes < STORE_JOURNAL_MIN)
		bytes = STORE_JOURNAL_MIN;
	if (store_int(st, SQL_PAGE_SIZE, &page) < 0)
		return -1;
	want = page > 0 ? bytes / page : 16;
	if (want < 16)
		want = 16;
	if (want == st->nslots)
		return 0;
	if (st->head > st->base && store_fold(st, true) < 0)
		return -1;
	if (want < st->nslots) {
		if (!(s = store_stmt(st, SQL_J_DROP)))
			return -1;
		sqlite3_bind_int64(s, 1, want);
		if (store_run(st, s, "size journal") < 0)
			return -1;
	}
	for (int64_t i = st->nslots; i < want; i++) {
		if (!(s = store_stmt(st, SQL_J_ADD)))
			return -1;
		sqlite3_bind_int64(s, 1, i);
		sqlite3_bind_int64(s, 2, (int64_t)st->slot_bytes);
		if (store_run(st, s, "size journal") < 0)
			return -1;
	}
	st->nslots = want;
	return 0;
}

static int store_upsert_device(struct store *st, const struct config *cfg, size_t d,
			       struct store_dev *devs, struct store_pt *pts)
{
	const struct device_cfg *dc = &cfg->devices[d];
	sqlite3_stmt *s = store_stmt(st, SQL_DEV_UPSERT);
	int r;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)d);
	sqlite3_bind_text(s, 3, dc->bus >= 0 && (size_t)dc->bus < cfg->nbuses ?
			  cfg->buses[dc->bus].id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, dc->unit);
	sqlite3_bind_int(s, 5, dc->enabled);
	store_bind_text(s, 6, dc->location);
	sqlite3_bind_text(s, 7, config_category_name(dc->category), -1, SQLITE_STATIC);
	if (store_run(st, s, "write device") < 0)
		return -1;
	if (!(s = store_stmt(st, SQL_DEV_NUM)))
		return -1;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	r = store_row(st, s, "read device number");
	if (r <= 0)
		return -1;
	devs[d].num = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	if (devs[d].num < 1 || devs[d].num > STORE_NUM_MAX) {
		log_error("store", "%s: device %s: number %d out of range", st->path, dc->id,
			  devs[d].num);
		return -1;
	}

	for (size_t p = 0; p < dc->npoints; p++) {
		const struct point_cfg *pc = &dc->points[p];
		struct store_pt *sp = &pts[devs[d].first + p];

		if (!(s = store_stmt(st, SQL_PT_UPSERT)))
			return -1;
		sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, pc->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (int64_t)p);
		sqlite3_bind_text(s, 4, point_type_name(pc->type), -1, SQLITE_STATIC);
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
		if (sp->id < 0 || sp->id >= STORE_ID_MAX) {
			log_error("store", "%s: point %s.%s: id %lld out of range", st->path, dc->id,
				  pc->name, (long long)sp->id);
			return -1;
		}
	}
	return 0;
}

int store_configure(struct store *st, const struct config *cfg)
{
	struct store_dev *devs = NULL;
	struct store_pt *pts = NULL;
	struct store_idx *byid = NULL;
	size_t npts = 0;
	int64_t now = util_wall_ms();

	if (store_flush(st) < 0)
		return -1;
	for (size_t d = 0; d < cfg->ndevices; d++)
		npts += cfg->devices[d].npoints;
	devs = calloc(cfg->ndevices ? cfg->ndevices : 1, sizeof *devs);
	pts = calloc(npts ? npts : 1, sizeof *pts);
	byid = calloc(npts ? npts : 1, sizeof *byid);
	if (!devs || !pts || !byid) {
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
	if (store_journal_size(st, cfg) < 0 ||
	    store_meta_text(st, "site", cfg->site_id) < 0 ||
	    store_meta_text(st, "site_name", cfg->site_name) < 0 ||
	    store_meta_text(st, "gateway", cfg->gateway) < 0)
		goto out_rollback;
	for (size_t d = 0; d < cfg->ndevices; d++)
		if (store_upsert_device(st, cfg, d, devs, pts) < 0)
			goto out_rollback;
	for (size_t i = 0; i < npts; i++) {
		byid[i].id = pts[i].id;
		byid[i].i = i;
	}
	qsort(byid, npts, sizeof *byid, store_idx_cmp);
	if (store_mark_removed(st, cfg, now) < 0 ||
	    store_load_memory(st, cfg, devs, pts, byid, npts) < 0)
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
	free(st->byid);
	st->devs = devs;
	st->pts = pts;
	st->byid = byid;
	st->npts = npts;
	st->cfg = cfg;
	return 0;

out_rollback:
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback configure");
	store_journal_load(st);     /* a fold or resize was rolled back too */
out_free:
	free(devs);
	free(pts);
	free(byid);
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
	struct store_ent e = { .ts = ts_ms };
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
	e.id = (uint32_t)sp->id;
	e.value = value;
	e.q = (uint8_t)qi;
	e.kind = qi != Q_GOOD ? SE_Q : store_f4_exact(value) ? SE_F4 : SE_F8;
	if (store_pend(st, &e) < 0)
		return -1;
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

static uint8_t store_count8(int n)
{
	return n < 0 ? 0 : n > 255 ? 255 : (uint8_t)n;
}

int store_device_poll(struct store *st, int dev, const struct store_poll *p)
{
	struct store_ent e;

	if (!store_dev_ok(st, dev))
		return -1;
	memset(&e, 0, sizeof e);
	e.ts = p->ts_ms;
	e.id = (uint32_t)st->devs[dev].num;
	e.q = p->ok;
	e.cnt[0] = store_count8(p->timeouts);
	e.cnt[1] = store_count8(p->exceptions);
	e.cnt[2] = store_count8(p->crc);
	e.cnt[3] = store_count8(p->other);
	e.kind = p->ok && !(e.cnt[0] | e.cnt[1] | e.cnt[2] | e.cnt[3]) ? SE_OK : SE_ERR;
	if (store_pend(st, &e) < 0)
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


/* Oldest and newest reading over all points, one seek each per point, and
 * the journal. 1 found, 0 no reading at all, -1 error. */
static int store_span(struct store *st, const int64_t *ids, size_t n, int64_t *oldest,
		      int64_t *newest)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		int64_t first, last;
		sqlite3_stmt *s = store_stmt(st, SQL_CH_FIRST);
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
		if (!(s = store_stmt(st, SQL_CH_LAST)))
			return -1;
		sqlite3_bind_int64(s, 1, ids[i]);
		r = store_row(st, s, "read newest reading");
		if (r < 0)
			return -1;
		last = r ? sqlite3_column_int64(s, 1) : first;
		if (r)
			sqlite3_reset(s);
		if (!any || first < *oldest)
			*oldest = first;
		if (!any || last > *newest)
			*newest = last;
		any = true;
	}
	if (any && st->jmin_rd != INT64_MAX && st->jmax > *newest)
		*newest = st->jmax;
	return any ? 1 : 0;
}

/* Delete the readings older than BEFORE of every point in IDS, in one
 * transaction: whole chunks, and the older part of the one chunk of each
 * point that holds BEFORE. Adds the count to *DELETED. */
static int store_cut(struct store *st, const int64_t *ids, size_t n, int64_t before,
		     int64_t *deleted)
{
	struct store_rd *rd = NULL;
	size_t nrd = 0, cap = 0;
	int64_t count = 0;
	sqlite3_stmt *s;

	if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin retention") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int r;

		store_cb_start(st, ids[i]);
		if (!(s = store_stmt(st, SQL_CH_OLD_N)))
			goto out_rollback;
		sqlite3_bind_int64(s, 1, ids[i]);
		sqlite3_bind_int64(s, 2, before);
		if (store_row(st, s, "count old readings") != 1)
			goto out_rollback;
		count += sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		if (!(s = store_stmt(st, SQL_CH_OLD_DEL)))
			goto out_rollback;
		sqlite3_bind_int64(s, 1, ids[i]);
		sqlite3_bind_int64(s, 2, before);
		if (store_run(st, s, "delete old readings") < 0)
			goto out_rollback;
		if (!(s = store_stmt(st, SQL_CH_STRADDLE)))
			goto out_rollback;
		sqlite3_bind_int64(s, 1, ids[i]);
		sqlite3_bind_int64(s, 2, before);
		r = store_row(st, s, "read old readings");
		if (r < 0)
			goto out_rollback;
		if (r == 0)
			continue;
		nrd = 0;
		int64_t key = sqlite3_column_int64(s, 0);
		r = store_chunk_read(st, s, &rd, &nrd, &cap);
		sqlite3_reset(s);
		if (r < 0)
			goto out_rollback;
		st->cb->key = key;
		for (size_t k = 0; k < nrd; k++) {
			if (rd[k].ts < before)
				count++;
			else if (store_cb_add(st, rd[k].ts, rd[k].value, rd[k].q) < 0)
				goto out_rollback;
		}
		if (st->cb->n == 0) {
			/* nothing kept (a damaged chunk): the row goes */
			if (!(s = store_stmt(st, SQL_CH_DEL)))
				goto out_rollback;
			sqlite3_bind_int64(s, 1, ids[i]);
			sqlite3_bind_int64(s, 2, key);
			if (store_run(st, s, "delete old readings") < 0)
				goto out_rollback;
		} else if (store_cb_flush(st) < 0) {
			goto out_rollback;
		}
	}
	if (store_simple(st, SQL_COMMIT, "commit retention") < 0)
		goto out_rollback;
	free(rd);
	*deleted += count;
	return 0;

out_rollback:
	free(rd);
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, SQL_ROLLBACK, "rollback retention");
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
	/* The journal holds minutes of readings, older ones only after the
	 * clock moved: archive them so that they follow the same rules. */
	if (cutoff != INT64_MIN && st->jmin_rd < cutoff) {
		if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin retention") < 0)
			return -1;
		if (store_fold(st, true) < 0 || store_simple(st, SQL_COMMIT, "commit retention") < 0) {
			store_abort(st);
			return -1;
		}
	}
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

	/* The batch first; a timed fold waits for the next flush. */
	if (store_commit_batch(st, false) < 0)
		return -1;
	if (store_exec(st, "PRAGMA synchronous = FULL", "set synchronous") < 0)
		return -1;
	if (store_simple(st, SQL_BEGIN_IMMEDIATE, "begin event") < 0)
		goto out_sync;

	if (!(q = store_stmt(st, SQL_EV_ADD)))
		goto out_rollback;
	sqlite3_bind_int64(q, 1, seq);
	sqlite3_bind_text(q, 2, alarm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, alarm_event_name(ev), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, config_category_name(cat), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, config_severity_name(sev), -1, SQLITE_STATIC);
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
