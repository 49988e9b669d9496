/*
 * chunks: the archive (docs/store.md, "Packed formats"). Owns the chunk
 * builder (one run of a point's readings with one quality, times strictly
 * rising, 4-byte offsets and float32 or float64 values), reading a chunk
 * row back, extending a point's small last chunk, and merging readings that
 * land inside the stored span (the clock was set back) so that the chunks
 * of a point never overlap in time.
 */
#include "store_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char store_sql_chunk_last[] =
	"SELECT t0, t1, n, quality, ts, vals FROM chunks"
	" WHERE point_id = ?1"
	" ORDER BY t0 DESC LIMIT 1";

/* The chunks of point ?1 that overlap [?2, ...): from the one holding ?2 on. */
static const char sql_chunks_from[] =
	"SELECT t0, t1, n, quality, ts, vals FROM chunks"
	" WHERE point_id = ?1 AND t1 >= ?2"
	"   AND t0 >= coalesce((SELECT max(t0) FROM chunks WHERE point_id = ?1 AND t0 <= ?2), ?2)"
	" ORDER BY t0";

static const char sql_chunks_del_from[] =
	"DELETE FROM chunks"
	" WHERE point_id = ?1 AND t1 >= ?2"
	"   AND t0 >= coalesce((SELECT max(t0) FROM chunks WHERE point_id = ?1 AND t0 <= ?2), ?2)";

static const char sql_chunk_add[] =
	"INSERT INTO chunks (point_id, t0, t1, n, quality, ts, vals)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static const char sql_chunk_set[] =
	"UPDATE chunks SET t1 = ?3, n = ?4, quality = ?5, ts = ?6, vals = ?7"
	" WHERE point_id = ?1 AND t0 = ?2";

static const char sql_chunk_del[] = "DELETE FROM chunks WHERE point_id = ?1 AND t0 = ?2";

int store_chunk_del(struct store *st, int64_t pid, int64_t t0, const char *what)
{
	sqlite3_stmt *s = store_stmt(st, sql_chunk_del);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, pid);
	sqlite3_bind_int64(s, 2, t0);
	return store_run(st, s, what);
}

/* Write the chunk being built (replacing the row it was loaded from). */
int store_cb_flush(struct store *st)
{
	struct store_cb *cb = st->cb;
	bool set = cb->key == cb->t0;
	sqlite3_stmt *s;

	if (cb->n == 0)
		return 0;
	if (cb->key != INT64_MIN && !set && store_chunk_del(st, cb->pid, cb->key, "write chunk") < 0)
		return -1;
	if (!(s = store_stmt(st, set ? sql_chunk_set : sql_chunk_add)))
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

void store_cb_start(struct store *st, int64_t pid)
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
int store_cb_add(struct store *st, int64_t ts, double v, int q)
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
bool store_chunk_ok(sqlite3_stmt *s, int *width)
{
	int n = sqlite3_column_int(s, 2);
	int tl = sqlite3_column_bytes(s, 4), vl = sqlite3_column_bytes(s, 5);

	*width = sqlite3_column_type(s, 5) == SQLITE_NULL ? 0 : n > 0 ? vl / n : -1;
	return n > 0 && n <= STORE_CHUNK_MAX && tl == 4 * n &&
	       (*width == 0 || *width == 4 || *width == 8) && vl == *width * n;
}

/* Append the readings of the chunk row at S to *ARR. */
int store_chunk_read(struct store *st, sqlite3_stmt *s, struct store_rd **arr, size_t *n,
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

	if (!(s = store_stmt(st, sql_chunks_from)))
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
	if (!(s = store_stmt(st, sql_chunks_del_from)))
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
int store_archive(struct store *st, uint32_t pid, struct store_rd *r, size_t n)
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
	if (!(s = store_stmt(st, store_sql_chunk_last)))
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
