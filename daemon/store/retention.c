/*
 * retention: store_maintain (docs/store.md, "Retention"). Owns deleting
 * readings by age (retention_days) and by size (max_mb, the oldest 1/128 of
 * the stored span a step), pruning statistics and the device log by age,
 * and giving free pages back. Never deletes events, alarm state, the
 * outbox, devices, points or meta. Bounded: steps in separate transactions
 * until nothing is due or STORE_MAINTAIN_BUDGET_MS are spent.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

static const char sql_page_count[] = "PRAGMA page_count";
static const char sql_freelist_count[] = "PRAGMA freelist_count";

static const char sql_point_ids[] = "SELECT id FROM points";

static const char sql_chunk_first[] =
	"SELECT t0 FROM chunks WHERE point_id = ?1 ORDER BY t0 LIMIT 1";

/* Chunks never overlap: those ending before ?2 are the first ones. */
static const char sql_chunks_old_n[] =
	"SELECT coalesce(sum(n), 0) FROM chunks"
	" WHERE point_id = ?1 AND t0 < ?2 AND t1 < ?2";

static const char sql_chunks_old_del[] =
	"DELETE FROM chunks WHERE point_id = ?1 AND t0 < ?2 AND t1 < ?2";

/* The chunk that holds ?2 (what is left before ?2 after the delete). */
static const char sql_chunk_straddle[] =
	"SELECT t0, t1, n, quality, ts, vals FROM chunks"
	" WHERE point_id = ?1 AND t0 < ?2"
	" ORDER BY t0 LIMIT 1";

static const char sql_stats_prune[] = "DELETE FROM device_stats WHERE hour < ?1";

/* Keep the last transition before the cutoff: it is the state at the cutoff. */
static const char sql_log_prune[] =
	"DELETE FROM device_log"
	" WHERE device IN (SELECT id FROM devices) AND ts < ?1"
	"   AND rowid <> (SELECT l.rowid FROM device_log l"
	"                 WHERE l.device = device_log.device AND l.ts < ?1"
	"                 ORDER BY l.ts DESC, l.rowid DESC LIMIT 1)";

static int store_used_bytes(struct store *st, int64_t *out)
{
	int64_t pages, freep, psize;

	if (store_int(st, sql_page_count, &pages) < 0 || store_int(st, sql_freelist_count, &freep) < 0 ||
	    store_int(st, store_sql_page_size, &psize) < 0)
		return -1;
	*out = (pages - freep) * psize;
	return 0;
}

/* Every point id in the file (removed ones too). *IDS malloc'd. */
static int store_point_ids(struct store *st, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, sql_point_ids);
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
		sqlite3_stmt *s = store_stmt(st, sql_chunk_first);
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
		if (!(s = store_stmt(st, store_sql_chunk_last)))
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

	if (store_simple(st, store_sql_begin_immediate, "begin retention") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int r;

		store_cb_start(st, ids[i]);
		if (!(s = store_stmt(st, sql_chunks_old_n)))
			goto out_rollback;
		sqlite3_bind_int64(s, 1, ids[i]);
		sqlite3_bind_int64(s, 2, before);
		if (store_row(st, s, "count old readings") != 1)
			goto out_rollback;
		count += sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		if (!(s = store_stmt(st, sql_chunks_old_del)))
			goto out_rollback;
		sqlite3_bind_int64(s, 1, ids[i]);
		sqlite3_bind_int64(s, 2, before);
		if (store_run(st, s, "delete old readings") < 0)
			goto out_rollback;
		if (!(s = store_stmt(st, sql_chunk_straddle)))
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
		/* nothing kept (a damaged chunk): the row goes */
		if (st->cb->n == 0 ? store_chunk_del(st, ids[i], key, "delete old readings") < 0 :
		    store_cb_flush(st) < 0)
			goto out_rollback;
	}
	if (store_simple(st, store_sql_commit, "commit retention") < 0)
		goto out_rollback;
	free(rd);
	*deleted += count;
	return 0;

out_rollback:
	free(rd);
	store_rollback(st, "rollback retention");
	return -1;
}

/* Statistics and the device log follow retention_days too; the device log
 * keeps the last transition before the cutoff (the state at the cutoff). */
static int store_prune_stats(struct store *st, int64_t cutoff)
{
	sqlite3_stmt *s;

	if (store_simple(st, store_sql_begin_immediate, "begin retention") < 0)
		return -1;
	if (!(s = store_stmt(st, sql_stats_prune)))
		goto out_rollback;
	sqlite3_bind_int64(s, 1, cutoff - STORE_HOUR_MS);
	if (store_run(st, s, "delete old statistics") < 0)
		goto out_rollback;
	if (!(s = store_stmt(st, sql_log_prune)))
		goto out_rollback;
	sqlite3_bind_int64(s, 1, cutoff);
	if (store_run(st, s, "delete old device log") < 0)
		goto out_rollback;
	if (store_simple(st, store_sql_commit, "commit retention") < 0)
		goto out_rollback;
	return 0;

out_rollback:
	store_rollback(st, "rollback retention");
	return -1;
}

/* Give free pages back to the file system only when there are many of them:
 * new readings reuse free pages anyway, and moving pages costs writes. */
static int store_vacuum(struct store *st)
{
	int64_t pages, freep;
	char sql[64];

	if (store_int(st, sql_page_count, &pages) < 0 || store_int(st, sql_freelist_count, &freep) < 0)
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
		if (store_simple(st, store_sql_begin_immediate, "begin retention") < 0)
			return -1;
		if (store_fold(st, true) < 0 || store_simple(st, store_sql_commit, "commit retention") < 0) {
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
