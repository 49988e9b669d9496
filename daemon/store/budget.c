/*
 * budget: storage.max_mb is the whole footprint of the store (docs/store.md,
 * "The budget"). Owns the split of max_mb into the journal ring, the WAL's
 * share (the checkpoint threshold plus the biggest transaction) and the main
 * file's share, what holds SQLite to it (the checkpoints, after every
 * commit; journal_size_limit, max_page_count) and measuring what the store takes on
 * disk (the file and its -wal).
 *
 * The WAL grows to the checkpoint threshold and then by at most one
 * transaction before the checkpoint lets the next writer start it again; the
 * file never passes max_page_count (SQLite answers SQLITE_FULL), and
 * retention keeps its used pages a fold's growth below that.
 */
#include "store_int.h"

#include <stdio.h>
#include <sys/stat.h>

static const char sql_page_count[] = "PRAGMA page_count";
static const char sql_freelist_count[] = "PRAGMA freelist_count";

#define STORE_WAL_HDR 32          /* bytes before the first frame */
#define STORE_FRAME_HDR 24        /* bytes before each page in the WAL */
#define STORE_SHM_BLOCK 32768     /* the wal-index grows by these */
#define STORE_SHM_FIRST 4062      /* frames the first block indexes; the others 4096 */

static int64_t store_clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void store_budget_plan(struct store_budget *b, int max_mb, int64_t page, size_t slot_bytes,
		       size_t npts, size_t ndevs)
{
	int64_t mb = max_mb < CONFIG_MAX_MB_MIN ? CONFIG_MAX_MB_MIN : max_mb;
	int64_t max = mb * 1024 * 1024, frames, due;

	b->max = max;
	b->page = page;
	b->slots = store_clamp(max / 64, STORE_JOURNAL_MIN, STORE_JOURNAL_MAX) / page;
	if (b->slots < 16)
		b->slots = 16;
	b->ckpt_pages = store_clamp(max / 16, STORE_WAL_MIN, STORE_WAL_BYTES) / page;
	/* A fold: its chunks take fewer pages than the half ring they come
	 * from, carried readings at most a quarter of it; each point archived
	 * rewrites the page of its last chunk; device counters; b-tree pages
	 * above, the freelist, meta. A resize or retention step stays below. */
	due = b->slots / 2 * (int64_t)slot_bytes / (int64_t)store_kind_size[SE_Q];
	b->txn_pages = b->slots + ((int64_t)npts < due ? (int64_t)npts : due) +
		(int64_t)ndevs / 4 + 64;
	frames = b->ckpt_pages + b->txn_pages + STORE_WAL_SLACK;
	b->wal = STORE_WAL_HDR + frames * (page + STORE_FRAME_HDR);
	b->shm = STORE_SHM_BLOCK *
		(1 + (frames > STORE_SHM_FIRST ? (frames - STORE_SHM_FIRST + 4095) / 4096 : 0));
	/* Kept back for store_make_room: on a full file even a DELETE needs
	 * pages (a b-tree balance allocates before it frees). */
	b->file_pages = (max - b->wal - b->shm) / page - STORE_ROOM_PAGES;
	if (b->file_pages < b->txn_pages)
		b->file_pages = b->txn_pages;
	b->low = (b->file_pages - b->txn_pages) * page;
}

/* After every commit (SQLite's autocheckpoint, replaced): at the threshold a
 * passive checkpoint, which lets the next writer start the WAL again; one
 * that a reader (`yardwatch`) kept from finishing is done again, waiting
 * for the readers (the busy timeout, at most), once the WAL has passed the
 * threshold by the slack: the WAL keeps to its share. */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *st = arg;
	const struct store_budget *b = &st->budget;
	int log = 0, done = 0;

	if (frames < b->ckpt_pages)
		return SQLITE_OK;
	sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (done < log && frames >= b->ckpt_pages + STORE_WAL_SLACK)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	return SQLITE_OK;
}

int store_budget_apply(struct store *st, const struct store_budget *b)
{
	sqlite3_wal_hook(st->db, store_wal_hook, st);
	return store_budget_limit(st, b, 0);
}

int store_budget_limit(struct store *st, const struct store_budget *b, int64_t extra)
{
	char sql[80];
	int64_t pages;

	/* After a checkpoint, a WAL that one big transaction took past the
	 * threshold goes back to it. */
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %lld",
		 (long long)(STORE_WAL_HDR + b->ckpt_pages * (b->page + STORE_FRAME_HDR)));
	if (store_exec(st, sql, "set journal_size_limit") < 0)
		return -1;
	/* SQLite keeps a limit below the present size at that size: retention
	 * and the vacuum bring the file down, and this again after them. */
	if (store_int(st, sql_page_count, &pages) < 0)
		return -1;
	pages = pages > b->file_pages + extra ? pages : b->file_pages + extra;
	snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
	return store_exec(st, sql, "set max_page_count");
}

static int64_t store_file_size(const char *path, const char *suffix)
{
	char p[4096];
	struct stat sb;

	snprintf(p, sizeof p, "%s%s", path, suffix);
	return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int store_size(struct store *st, struct store_size *sz)
{
	int64_t page;

	if (store_int(st, sql_page_count, &sz->pages) < 0 ||
	    store_int(st, sql_freelist_count, &sz->free_pages) < 0 ||
	    store_int(st, store_sql_page_size, &page) < 0)
		return -1;
	/* On disk the file is longer until a checkpoint copies a shrink back. */
	sz->file = store_file_size(st->path, "");
	if (sz->file < sz->pages * page)
		sz->file = sz->pages * page;
	sz->used = (sz->pages - sz->free_pages) * page;
	sz->wal = store_file_size(st->path, "-wal");
	return 0;
}

/* What the store needs of its low mark: the used pages, and a WAL past
 * its share (a reader held the checkpoint back) is paid for by the
 * readings too. */
static int store_need(struct store *st, int64_t *need)
{
	const struct store_budget *b = &st->budget;
	struct store_size sz;

	if (store_size(st, &sz) < 0)
		return -1;
	*need = sz.used + (sz.wal > b->wal ? sz.wal - b->wal : 0);
	return 0;
}

int64_t store_over(struct store *st)
{
	int64_t need;

	if (st->budget.max == 0)
		return 0;
	if (store_need(st, &need) < 0)
		return -1;
	return need > st->budget.low ? need - st->budget.low : 0;
}

int64_t store_under(struct store *st)
{
	int64_t need;

	if (st->budget.max == 0 || store_need(st, &need) < 0)
		return INT64_MAX;
	return need < st->budget.low ? st->budget.low - need : 0;
}
