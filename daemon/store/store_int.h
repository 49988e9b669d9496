/*
 * store_int: what the rooms of the store share; private to daemon/store/.
 * The public API is daemon/store.h; docs/store.md has the schema, the packed
 * formats and the measurements behind the constants below.
 *
 * Owns: struct store (the connection, the statement cache, the in-memory
 * copies of the journal position, the last stored values and the device log
 * state), the journal entry kinds and their sizes, the working types of the
 * journal, fold and chunk builder, and the prototypes each room exports to
 * the others.
 *
 * The rooms:
 *   db.c         errors, the statement cache, statement and byte helpers,
 *                the batch transaction
 *   schema.c     schema, migrations, open and close
 *   views.sql    the views that decode the packed formats (compiled in)
 *   configure.c  binding to a config: devices, points, journal size
 *   readings.c   when a reading is stored; the last stored values
 *   journal.c    the journal ring: write, walk, flush
 *   chunks.c     the archive: building, extending and merging chunks
 *   fold.c       folding the journal into the archive and the counters
 *   stats.c      per-device polls, state and the device log
 *   budget.c     max_mb as the whole footprint: the split into the journal
 *                ring, the WAL and the file, the PRAGMAs that hold SQLite
 *                to it, measuring the file and its -wal
 *   retention.c  deleting by age and size; making room for an event
 *   events.c     alarm events (the durable path), sequence, alarm state,
 *                the outbox
 */
#ifndef YW_STORE_INT_H
#define YW_STORE_INT_H

#include "../store.h"
#include "../log.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_PAGE_SIZE 1024        /* new files: small pages, small commits */
#define STORE_CACHE_KB 128          /* page cache (PRAGMA cache_size) */
#define STORE_WAL_BYTES (16 * 1024 * 1024) /* checkpoint then, at most: the ring turns over several times */
#define STORE_WAL_MIN (64 * 1024)   /* ... and at least */
#define STORE_WAL_SLACK 64          /* WAL frames for commits while a reader holds a checkpoint back */
#define STORE_TRIM_BUDGET_MS 100    /* size retention after a fold, at most */
#define STORE_HYST 32               /* size retention cuts to 1/32 of the file's share below the low mark */
#define STORE_ROOM_PAGES 64         /* file pages kept back for making room when full */
#define STORE_ROOM_FREE 16          /* making room: free pages wanted (an event takes 1 to 3) */
#define STORE_ROOM_STEPS (STORE_SLICES / 8) /* ... and at most this many steps of size retention */
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
#define STORE_STMT_SLOTS 128        /* statement cache; the rooms use about 55 */

/* ---- journal entries ----
 * A slot holds five sections, in this order, with their counts in the
 * columns n4, n8, nq, nok, nerr; times are offsets from the slot's t0;
 * every number big-endian. */
enum store_kind {
	SE_F4,    /* good reading, value exact as float32: point u24, dt u32, f32 */
	SE_F8,    /* good reading: point u24, dt u32, f64 */
	SE_Q,     /* bad or stale reading: point u24, dt u32, quality u8 */
	SE_OK,    /* poll that worked without a failed request: device u16, dt u32 */
	SE_ERR,   /* other poll: device u16, dt u32, ok, timeouts, exceptions, crc (u8),
	             other | gateway << 4 (u8) */
	SE_KINDS
};
extern const size_t store_kind_size[SE_KINDS];   /* { 11, 15, 8, 6, 11 } */

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
	uint8_t cnt[5];      /* polls: timeouts, exceptions, crc, other, gateway
	                        (journal: other and gateway share a byte, 4 bits
	                        each, gateway in the high half) */
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

struct store_idx {
	int64_t id;
	size_t i;
};

/* A prepared statement, found by the address of its SQL text. */
struct store_stmt {
	const char *sql;
	sqlite3_stmt *s;
};

/* storage.max_mb split (budget.c; docs/store.md, "The budget"). Bytes
 * unless said. */
struct store_budget {
	int64_t max;          /* max_mb: the file, its -wal and -shm together */
	int64_t page;         /* page size */
	int64_t slots;        /* journal ring: slots (pages) */
	int64_t ckpt_pages;   /* WAL frames that start a checkpoint */
	int64_t txn_pages;    /* the biggest transaction (a fold), in pages */
	int64_t wal;          /* the WAL's share: checkpoint + biggest transaction + slack */
	int64_t shm;          /* the -shm (wal-index) for that WAL */
	int64_t file_pages;   /* the main file's share (PRAGMA max_page_count) */
	int64_t low;          /* retention keeps the used pages under this: room for a fold */
};

/* What the store takes on disk now. */
struct store_size {
	int64_t pages, free_pages;   /* the main file */
	int64_t file, used;          /* its bytes; those of the used pages */
	int64_t wal;                 /* the -wal file */
};

struct store {
	sqlite3 *db;
	char *path;
	struct store_stmt stmt[STORE_STMT_SLOTS];   /* open addressing on the text's address */
	bool in_batch;
	const struct config *cfg;
	struct store_dev *devs;
	struct store_pt *pts;
	size_t npts;
	struct store_idx *byid;   /* pts sorted by id */
	int64_t seq;         /* highest committed seq; -1 until read */
	int64_t depth;       /* outbox rows; -1 until counted */
	bool size_warned;    /* "above max_mb with no readings left" said */
	bool full;           /* a call failed with SQLITE_FULL (disk or budget) since cleared */
	struct store_budget budget;   /* all 0 until configured */
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

/* ---- db.c: errors, statements, bytes, the batch ---- */

/* Log a failed SQLite call once (identical errors repeat once a minute). */
void store_fail(struct store *st, const char *what);
/* The cached statement for SQL (a constant: the cache keys on its address),
 * reset and unbound; NULL on error (logged). */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);
/* Finalize every cached statement (SQL NULL) or the one of SQL. */
void store_stmt_drop(struct store *st, const char *sql);
/* Run S to completion and reset it. 0 / -1 (logged as WHAT). */
int store_run(struct store *st, sqlite3_stmt *s, const char *what);
/* Step a one-row query: 1 row (left un-reset for the caller to read, who
 * must sqlite3_reset), 0 no row, -1 error (logged). */
int store_row(struct store *st, sqlite3_stmt *s, const char *what);
/* Prepare (cached) and run SQL. 0 / -1. */
int store_simple(struct store *st, const char *sql, const char *what);
/* sqlite3_exec, uncached (PRAGMAs, scripts). 0 / -1. */
int store_exec(struct store *st, const char *sql, const char *what);
/* A query returning one integer (0 when no row). 0 / -1. */
int store_int(struct store *st, const char *sql, int64_t *out);
/* meta KEY = VALUE: text (NULL or empty: NULL), or an integer (a failure
 * logged as WHAT). 0 / -1. */
int store_meta_text(struct store *st, const char *key, const char *value);
int store_meta_int(struct store *st, const char *key, int64_t value, const char *what);
void store_bind_text(sqlite3_stmt *s, int i, const char *t);
void store_bind_real(sqlite3_stmt *s, int i, double v);   /* NaN/Inf: NULL */

void store_put_be(unsigned char *p, uint64_t v, int n);
uint64_t store_get_be(const unsigned char *p, int n);
void store_put_f4(unsigned char *p, double v);
void store_put_f8(unsigned char *p, double v);
double store_get_f4(const unsigned char *p);
double store_get_f8(const unsigned char *p);
bool store_f4_exact(double v);   /* V (finite) survives a trip through float32 */
/* Grow *ARR (elements of SIZE) to hold at least WANT. 0 / -1 (logged). */
int store_grow(void **arr, size_t *cap, size_t want, size_t size);

extern const char store_sql_begin[], store_sql_begin_immediate[], store_sql_commit[],
	store_sql_rollback[], store_sql_page_size[];
/* Roll back an open transaction, if any (WHAT names it in the log). */
void store_rollback(struct store *st, const char *what);
/* The first write after a flush opens the batch transaction. 0 / -1. */
int store_batch(struct store *st);
/* A failed commit or statement inside the batch: roll back, re-read the
 * in-memory copies from the file. */
void store_abort(struct store *st);

int store_idx_cmp(const void *a, const void *b);
/* The configured point with id ID, or NULL. */
struct store_pt *store_find(struct store_pt *pts, const struct store_idx *byid, size_t n,
			    int64_t id);

/* ---- journal.c ---- */

typedef int (*store_walk_fn)(struct store *st, const struct store_ent *e, uint32_t ord,
			     void *ctx);
/* Call FN for every entry of the live slots, oldest first, up to seq HEAD
 * (HEAD < 0: as far as the sequence goes, *LAST set to the last seq). */
int store_walk(struct store *st, int64_t head, store_walk_fn fn, void *ctx, int64_t *last);
/* Add E to the slot being filled / write that slot as the next of the ring. */
int store_jw_add(struct store *st, const struct store_ent *e);
int store_jw_emit(struct store *st);
/* Size, fold position and head of the journal, from the file. */
int store_journal_load(struct store *st);
/* Resize the ring to SLOTS slots (folds everything first). */
int store_journal_size(struct store *st, int64_t slots);
/* An entry for the next journal write. */
int store_pend(struct store *st, const struct store_ent *e);
/* Commit the open batch; FOLD: a fold that is due follows, in a
 * transaction of its own. */
int store_commit_batch(struct store *st, bool fold);

/* ---- chunks.c ---- */

extern const char store_sql_chunk_last[];   /* ?1 point: t0, t1, n, quality, ts, vals */
void store_cb_start(struct store *st, int64_t pid);
int store_cb_add(struct store *st, int64_t ts, double v, int q);
int store_cb_flush(struct store *st);
/* Columns t0, t1, n, quality, ts, vals of S: a well-formed chunk? */
bool store_chunk_ok(sqlite3_stmt *s, int *width);
/* Append the readings of the chunk row at S to *ARR. */
/* Delete the chunk (PID, T0). 0 / -1 (logged as WHAT). */
int store_chunk_del(struct store *st, int64_t pid, int64_t t0, const char *what);
int store_chunk_read(struct store *st, sqlite3_stmt *s, struct store_rd **arr, size_t *n,
		     size_t *cap);
/* Archive the readings R of point PID (sorted by time, then journal order). */
int store_archive(struct store *st, uint32_t pid, struct store_rd *r, size_t n);

/* ---- fold.c ---- */

/* Inside the open transaction: the live journal into the archive and the
 * device counters (ALL: every reading, nothing carried). */
int store_fold(struct store *st, bool all);

/* ---- readings.c ---- */

/* Fill DEVS/PTS (sized for CFG, ids set, BYID their index by id) from the
 * file: last stored reading of every point, last logged device state. */
int store_load_memory(struct store *st, const struct config *cfg, struct store_dev *devs,
		      struct store_pt *pts, const struct store_idx *byid, size_t npts);

/* ---- budget.c ---- */

/* The split of MAX_MB (at least CONFIG_MAX_MB_MIN) for pages of PAGE bytes
 * (journal slots of SLOT_BYTES), NPTS points and NDEVS devices. */
void store_budget_plan(struct store_budget *b, int max_mb, int64_t page, size_t slot_bytes,
		       size_t npts, size_t ndevs);
/* Hold SQLite to B: wal_autocheckpoint, journal_size_limit, max_page_count
 * (never below the file's present size). 0 / -1. */
int store_budget_apply(struct store *st, const struct store_budget *b);
/* The same with EXTRA pages more for the file (store_make_room). */
int store_budget_limit(struct store *st, const struct store_budget *b, int64_t extra);
/* The file and its -wal now. 0 / -1. */
int store_size(struct store *st, struct store_size *sz);
/* Bytes above the budget's low mark (used pages, and the WAL past its
 * share); 0 when under it or not configured, -1 on error. */
int64_t store_over(struct store *st);
/* Bytes below it (INT64_MAX: not configured, or an error). */
int64_t store_under(struct store *st);

/* ---- retention.c ---- */

/* Size retention after a fold: the oldest readings go while the store is
 * over its low mark, for STORE_TRIM_BUDGET_MS at most. 0 / -1. */
int store_trim(struct store *st);
/* Make room now (the disk or the budget is full): one step of size
 * retention, whatever the size. The number of readings deleted (0: none
 * left), -1 on error. */
int64_t store_make_room(struct store *st);

/* ---- stats.c ---- */

int store_log_last(struct store *st, const char *device, int *out);
int store_log_add(struct store *st, const char *device, int64_t ts, int online);
/* Every monitored device "not monitored" from TS on (a clean stop). */
void store_log_unmonitored(struct store *st, int64_t ts);

#endif
