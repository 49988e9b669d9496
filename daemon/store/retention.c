/*
 * retention: store_maintain (docs/store.md, "Retention"). Owns deleting
 * readings by age (retention_days) and by size (the budget of max_mb,
 * budget.c: the oldest 1/128 of the stored span a step), after a fold
 * (store_trim) and when the disk or the budget is full (store_make_room),
 * pruning statistics and the device log by age, and giving free pages back.
 * Never deletes events, alarm state, the outbox, devices, points or meta.
 * Bounded: steps in separate transactions (each at most the budget's
 * biggest transaction) until nothing is due or the time budget is spent.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

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

/* Delete the readings older than BEFORE of every point in IDS: whole
 * chunks, and the older part of the one chunk of each point that holds
 * BEFORE (not EXACT: when that part is a quarter of it or more). A transaction ends when its pages (estimated) reach half the
 * budget's biggest transaction, so that the WAL keeps to its share. Adds
 * the count to *DELETED. */
static int store_cut(struct store *st, const int64_t *ids, size_t n, int64_t before,
		     bool exact, int64_t *deleted)
{
	struct store_rd *rd = NULL;
	size_t nrd = 0, cap = 0;
	int64_t count = 0, pages = 0, page = st->budget.page ? st->budget.page : 1024;
	int64_t most = st->budget.txn_pages ? st->budget.txn_pages / 2 : INT64_MAX;
	sqlite3_stmt *s;

	if (store_simple(st, store_sql_begin_immediate, "begin retention") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int r;

		if (pages >= most) {
			if (store_simple(st, store_sql_commit, "commit retention") < 0 ||
			    store_simple(st, store_sql_begin_immediate, "begin retention") < 0)
				goto out_rollback;
			*deleted += count;
			count = pages = 0;
		}

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
		pages += 2 + sqlite3_changes(st->db);
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
		size_t drop = 0;
		while (drop < nrd && rd[drop].ts < before)
			drop++;
		/* For size, a chunk is rewritten for a quarter of it or more:
		 * a few readings of the chunk wait, the writes stay in
		 * proportion to what goes. */
		if (!exact && drop * 4 < nrd && drop < nrd)
			continue;
		st->cb->key = key;
		count += (int64_t)drop;
		for (size_t k = drop; k < nrd; k++)
			if (store_cb_add(st, rd[k].ts, rd[k].value, rd[k].q) < 0)
				goto out_rollback;
		pages += 1 + st->cb->n * (4 + st->cb->width) / page;
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

/* Give free pages back to the file system when there are many of them
 * (new readings reuse free pages anyway, and moving pages costs writes), or
 * while the file is bigger than its share (max_mb was lowered) until T_END;
 * at most a quarter of the biggest transaction at once. Then max_page_count
 * follows the file down to its share. */
static int store_vacuum(struct store *st, int64_t t_end)
{
	const struct store_budget *b = &st->budget;
	int64_t n = b->txn_pages ? b->txn_pages / 4 : STORE_VACUUM_PAGES;
	bool shrunk = false;
	struct store_size sz;
	char sql[64];

	if (n > STORE_VACUUM_PAGES)
		n = STORE_VACUUM_PAGES;
	snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%lld)", (long long)n);
	for (bool first = true;; first = false) {
		bool big;

		if (store_size(st, &sz) < 0)
			return -1;
		big = b->max && sz.pages > b->file_pages;
		if (sz.free_pages == 0 || (!big && (!first || sz.free_pages * 8 < sz.pages)) ||
		    (!first && util_mono_ms() >= t_end))
			break;
		if (store_exec(st, sql, "incremental vacuum") < 0)
			return -1;
		shrunk |= big;
	}
	if (!shrunk)
		return 0;
	/* The file on disk keeps its length until a checkpoint copies the
	 * vacuum's pages back. */
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return store_budget_apply(st, b);
}

/* Steps, each deleting per point the readings before a target: the age
 * CUTOFF, or for size (while the store is over its low mark, or FORCE for
 * one step) the oldest 1/STORE_SLICES of the stored span, never more than
 * that span slice at once. Until nothing is due or T_END (monotonic ms). */
static int store_steps(struct store *st, int64_t cutoff, int room, int64_t t_end,
		       int64_t *deleted, int64_t *by_size)
{
	int64_t *ids = NULL, hyst = st->budget.file_pages * st->budget.page / STORE_HYST;
	int64_t last = INT64_MIN;     /* the target of the last size step */
	size_t n;
	bool cutting = false;
	int ret = -1;

	if (store_point_ids(st, &ids, &n) < 0)
		goto out_free;
	for (;;) {
		int64_t oldest = 0, newest = 0, target, slice, over, before = *deleted;
		bool for_size = false;
		int r = store_span(st, ids, n, &oldest, &newest);
		bool force = false;
		struct store_size sz;

		if (room > 0) {
			if (store_size(st, &sz) < 0)
				goto out_free;
			force = sz.free_pages < STORE_ROOM_FREE;
			room = force ? room - 1 : 0;
		}

		if (r < 0 || (over = store_over(st)) < 0)
			goto out_free;
		if (r == 0) {
			if (over > 0 && !st->size_warned)
				log_warn("store", "%s: above %d MB with no readings left to delete",
					 st->path, st->cfg->max_mb);
			st->size_warned = over > 0;
			break;
		}
		/* Once cutting for size, on to a little below the low mark, so
		 * that the next cut waits for a few folds. */
		if (oldest < cutoff)
			target = cutoff;
		else if (over > 0 || force || (cutting && over == 0 && store_under(st) < hyst))
			target = INT64_MAX, for_size = cutting = true;
		else
			break;
		slice = (newest - oldest) / STORE_SLICES;
		if (slice < 1000)
			slice = 1000;
		/* a size step that left every chunk as it was moves on all
		 * the same */
		if (for_size && last > oldest)
			oldest = last;
		if (target - oldest > slice)
			target = oldest + slice;
		if (for_size)
			last = target;
		if (store_cut(st, ids, n, target, !for_size, deleted) < 0)
			goto out_free;
		if (for_size)
			*by_size += *deleted - before;
		if (room == 0 && util_mono_ms() >= t_end)
			break;
	}
	ret = 0;
out_free:
	free(ids);
	return ret;
}

static void store_said_size(struct store *st, int64_t by_size)
{
	if (by_size)
		log_info("store", "%s: above %d MB: deleted the %lld oldest readings", st->path,
			 st->cfg->max_mb, (long long)by_size);
}

int store_trim(struct store *st)
{
	int64_t deleted = 0, by_size = 0, over;

	if (!st->cfg || (over = store_over(st)) == 0)
		return 0;
	if (over < 0 ||
	    store_steps(st, INT64_MIN, 0, util_mono_ms() + STORE_TRIM_BUDGET_MS, &deleted,
			&by_size) < 0)
		return -1;
	store_said_size(st, by_size);
	return 0;
}

int64_t store_make_room(struct store *st)
{
	int64_t deleted = 0, by_size = 0;

	if (!st->cfg)
		return 0;
	/* Once the checkpoint has copied the WAL, the next transaction writes
	 * it from the start again: no need to grow it on a full disk. */
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	/* Deleting needs a few pages too: the ones the budget keeps back. */
	if (st->budget.max && store_budget_limit(st, &st->budget, STORE_ROOM_PAGES) < 0)
		return -1;
	/* A step frees whole pages only where chunks shrink past a page
	 * boundary: steps until STORE_ROOM_FREE pages are free, at most
	 * STORE_ROOM_STEPS (1/8 of the stored span). */
	int r = store_steps(st, INT64_MIN, STORE_ROOM_STEPS, 0, &deleted, &by_size);
	if (st->budget.max && store_budget_apply(st, &st->budget) < 0)
		return -1;
	if (r < 0)
		return -1;
	if (by_size)
		log_warn("store", "%s: full: deleted the %lld oldest readings to make room",
			 st->path, (long long)by_size);
	return by_size;
}

int store_maintain(struct store *st, int64_t now_ms)
{
	int64_t cutoff = INT64_MIN, deleted = 0, by_size = 0, t_end;

	if (!st->cfg)
		return 0;
	if (store_flush(st) < 0)
		return -1;
	if (st->cfg->retention_days > 0)
		cutoff = now_ms - (int64_t)st->cfg->retention_days * STORE_DAY_MS;
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
	/* The main loop waits for us: STORE_MAINTAIN_BUDGET_MS at most. */
	t_end = util_mono_ms() + STORE_MAINTAIN_BUDGET_MS;
	if (store_steps(st, cutoff, 0, t_end, &deleted, &by_size) < 0)
		return -1;
	if (cutoff != INT64_MIN && store_prune_stats(st, cutoff) < 0)
		return -1;
	if (store_vacuum(st, t_end) < 0)
		return -1;
	store_said_size(st, by_size);
	return 0;
}
