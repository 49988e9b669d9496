/*
 * db: the store's plumbing that every room uses. Owns the error log
 * throttle, the statement cache (prepared once, found by the address of the
 * SQL text each room keeps next to its use), the small statement and bind
 * helpers, the big-endian packing of numbers, the meta table's writes and
 * the batch transaction (opened by the first write after a commit, rolled
 * back and re-read on failure).
 */
#include "store_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char store_sql_begin[] = "BEGIN";
const char store_sql_begin_immediate[] = "BEGIN IMMEDIATE";
const char store_sql_commit[] = "COMMIT";
const char store_sql_rollback[] = "ROLLBACK";
const char store_sql_page_size[] = "PRAGMA page_size";

static const char sql_meta_set[] =
	"INSERT INTO meta (key, value) VALUES (?1, ?2)"
	" ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/* ---- errors ---- */

/* Identical errors (same code, same WHAT) are logged once a minute, with
 * the path and sqlite3_errmsg. SQLITE_FULL (the disk, or max_page_count:
 * the budget) sets st->full for the caller that makes room. */
void store_fail(struct store *st, const char *what)
{
	int code = sqlite3_extended_errcode(st->db);
	int64_t now = util_mono_ms();

	if ((code & 0xff) == SQLITE_FULL)
		st->full = true;
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

/* ---- the statement cache ---- */

/* The first slot to probe for SQL: a multiplicative hash of its address. */
static size_t store_stmt_hash(const char *sql)
{
	uint64_t h = (uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h >> 40) % STORE_STMT_SLOTS;
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
	size_t i = store_stmt_hash(sql);

	for (size_t probe = 0; probe < STORE_STMT_SLOTS; probe++, i = (i + 1) % STORE_STMT_SLOTS) {
		struct store_stmt *c = &st->stmt[i];

		if (c->sql && c->sql != sql)
			continue;
		if (c->s) {
			sqlite3_reset(c->s);
			sqlite3_clear_bindings(c->s);
			return c->s;
		}
		/* A free slot, or SQL's own after store_stmt_drop(). */
		if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->s,
				       NULL) != SQLITE_OK) {
			sqlite3_finalize(c->s);
			c->s = NULL;
			store_fail(st, "prepare");
			return NULL;
		}
		c->sql = sql;
		return c->s;
	}
	log_error("store", "%s: statement cache full", st->path);
	return NULL;
}

/* A dropped statement keeps its slot (the probe chains stay intact) and is
 * prepared again when it is used again. */
void store_stmt_drop(struct store *st, const char *sql)
{
	for (size_t i = 0; i < STORE_STMT_SLOTS; i++) {
		struct store_stmt *c = &st->stmt[i];

		if (sql && c->sql != sql)
			continue;
		sqlite3_finalize(c->s);
		c->s = NULL;
	}
}

/* ---- statement helpers ---- */

int store_run(struct store *st, sqlite3_stmt *s, const char *what)
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

int store_row(struct store *st, sqlite3_stmt *s, const char *what)
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

int store_simple(struct store *st, const char *sql, const char *what)
{
	sqlite3_stmt *s = store_stmt(st, sql);
	return s ? store_run(st, s, what) : -1;
}

int store_exec(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, what);
		return -1;
	}
	return 0;
}

int store_int(struct store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = store_stmt(st, sql);
	int r;

	if (!s)
		return -1;
	r = store_row(st, s, sql);
	if (r <= 0)
		return r < 0 ? -1 : (*out = 0, 0);
	*out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t && *t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

void store_bind_real(sqlite3_stmt *s, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

int store_meta_text(struct store *st, const char *key, const char *value)
{
	sqlite3_stmt *s = store_stmt(st, sql_meta_set);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	store_bind_text(s, 2, value);
	return store_run(st, s, "write meta");
}

int store_meta_int(struct store *st, const char *key, int64_t value, const char *what)
{
	sqlite3_stmt *s = store_stmt(st, sql_meta_set);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, value);
	return store_run(st, s, what);
}

/* ---- bytes ---- */

void store_put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

uint64_t store_get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void store_put_f4(unsigned char *p, double v)
{
	float f = (float)v;
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	store_put_be(p, u, 4);
}

void store_put_f8(unsigned char *p, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof u);
	store_put_be(p, u, 8);
}

double store_get_f4(const unsigned char *p)
{
	uint32_t u = (uint32_t)store_get_be(p, 4);
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

double store_get_f8(const unsigned char *p)
{
	uint64_t u = store_get_be(p, 8);
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

bool store_f4_exact(double v)
{
	return fabs(v) <= FLT_MAX && (double)(float)v == v;
}

int store_grow(void **arr, size_t *cap, size_t want, size_t size)
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

void store_rollback(struct store *st, const char *what)
{
	if (!sqlite3_get_autocommit(st->db))
		store_simple(st, store_sql_rollback, what);
}

/* The entries not yet written are lost with the batch; the in-memory
 * copies (journal position, last values, device log state, outbox depth)
 * are read again so that they match the file. */
void store_abort(struct store *st)
{
	st->in_batch = false;
	store_rollback(st, "rollback");
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

int store_batch(struct store *st)
{
	if (st->in_batch)
		return 0;
	if (store_simple(st, store_sql_begin, "begin batch") < 0)
		return -1;
	st->in_batch = true;
	return 0;
}

/* ---- points by id ---- */

int store_idx_cmp(const void *a, const void *b)
{
	const struct store_idx *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct store_pt *store_find(struct store_pt *pts, const struct store_idx *byid, size_t n,
			    int64_t id)
{
	struct store_idx key = { id, 0 };
	const struct store_idx *hit;

	if (n == 0)
		return NULL;
	hit = bsearch(&key, byid, n, sizeof *byid, store_idx_cmp);
	return hit ? &pts[hit->i] : NULL;
}
