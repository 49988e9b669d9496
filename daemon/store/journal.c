/*
 * journal: the ring of one-page rows that takes every second's readings and
 * poll outcomes (docs/store.md, "The journal and the fold"). Owns writing
 * the pending entries as the next slots (packed: 6 to 15 bytes an entry),
 * walking the live slots back into entries, the ring's size and position,
 * and the batch commit (store_flush) that decides when a fold is due.
 *
 * A commit overwrites the few slots it needs in place: no page is
 * allocated and no b-tree page above the slots changes, so a second costs
 * the 2 to 4 pages its data needs.
 */
#include "store_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const size_t store_kind_size[SE_KINDS] = { 11, 15, 8, 6, 11 };

static const char sql_journal_count[] = "SELECT count(*) FROM journal";

static const char sql_journal_base[] = "SELECT value FROM meta WHERE key = 'journal_base'";

static const char sql_journal_read[] =
	"SELECT seq, t0, n4, n8, nq, nok, nerr, data"
	" FROM journal"
	" WHERE slot = ?1";

static const char sql_journal_write[] =
	"UPDATE journal"
	" SET seq = ?2, t0 = ?3, n4 = ?4, n8 = ?5, nq = ?6, nok = ?7, nerr = ?8, data = ?9"
	" WHERE slot = ?1";

static const char sql_journal_add[] =
	"INSERT INTO journal (slot, seq, t0, n4, n8, nq, nok, nerr, data)"
	" VALUES (?1, 0, 0, 0, 0, 0, 0, 0, zeroblob(?2))";

static const char sql_journal_drop[] = "DELETE FROM journal WHERE slot >= ?1";

static int store_fold_txn(struct store *st, bool all);

/* Write the entries gathered in st->jw as the next slot of the ring. */
int store_jw_emit(struct store *st)
{
	struct store_jw *w = &st->jw;
	unsigned char *p = st->slotbuf;
	int n[SE_KINDS] = { 0 };
	sqlite3_stmt *s;
	int64_t seq;

	if (w->n == 0)
		return 0;
	if (st->head - st->base >= st->nslots) {
		/* Full (one huge batch): archive everything, nothing is carried.
		 * Inside the batch, what it wrote is committed first and the
		 * fold has a transaction of its own: no transaction grows past
		 * the ring and a fold, so the WAL keeps to its share. */
		if (st->folding) {
			log_error("store", "%s: journal full while folding", st->path);
			return -1;
		}
		if (!st->in_batch) {
			if (store_fold(st, true) < 0)
				return -1;
		} else if (store_simple(st, store_sql_commit, "commit batch") < 0 ||
			   (st->in_batch = false, store_fold_txn(st, true) < 0) ||
			   store_batch(st) < 0) {
			return -1;
		}
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
					memcpy(p + 7, e->cnt, 3);
					p[10] = (uint8_t)((e->cnt[3] > 15 ? 15 : e->cnt[3]) |
							  (e->cnt[4] > 15 ? 15 : e->cnt[4]) << 4);
				}
			}
			p += store_kind_size[k];
			n[k]++;
		}
	seq = st->head + 1;
	if (!(s = store_stmt(st, sql_journal_write)))
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
int store_jw_add(struct store *st, const struct store_ent *e)
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

/* Call FN for every entry of the live slots, oldest first: up to seq HEAD,
 * or with HEAD < 0 as far as the sequence goes (*LAST: the last seq). A
 * damaged slot (only a damaged file has one) is skipped, or with HEAD < 0
 * ends the journal there (its slots are then written again). */
int store_walk(struct store *st, int64_t head, store_walk_fn fn, void *ctx, int64_t *last)
{
	int64_t seq = st->base, damaged = 0;
	uint32_t ord = 0;

	while (st->nslots > 0 && (head < 0 || seq < head)) {
		sqlite3_stmt *s = store_stmt(st, sql_journal_read);
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
						memcpy(e.cnt, p + 7, 3);
						e.cnt[3] = p[10] & 15;
						e.cnt[4] = p[10] >> 4;
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
int store_journal_load(struct store *st)
{
	sqlite3_stmt *s;
	int r;

	st->base = st->head = 0;
	st->jmax = INT64_MIN;
	st->jmin_rd = INT64_MAX;
	if (store_int(st, sql_journal_count, &st->nslots) < 0)
		return -1;
	if (!(s = store_stmt(st, sql_journal_base)))
		return -1;
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

/* The ring's size follows max_mb (the budget: 1/64 of it, 32 KB .. 2 MB):
 * a small store is not filled by its journal. Changing it empties the
 * journal first. */
int store_journal_size(struct store *st, int64_t want)
{
	sqlite3_stmt *s;

	if (want == st->nslots)
		return 0;
	if (st->head > st->base && store_fold(st, true) < 0)
		return -1;
	if (want < st->nslots) {
		if (!(s = store_stmt(st, sql_journal_drop)))
			return -1;
		sqlite3_bind_int64(s, 1, want);
		if (store_run(st, s, "size journal") < 0)
			return -1;
	}
	for (int64_t i = st->nslots; i < want; i++) {
		if (!(s = store_stmt(st, sql_journal_add)))
			return -1;
		sqlite3_bind_int64(s, 1, i);
		sqlite3_bind_int64(s, 2, (int64_t)st->slot_bytes);
		if (store_run(st, s, "size journal") < 0)
			return -1;
	}
	st->nslots = want;
	return 0;
}

/* Write the pending entries into the journal (a batch bigger than the
 * free part of the ring folds on the way: store_jw_emit). */
static int store_write_pending(struct store *st)
{
	for (size_t i = 0; i < st->npend; i++)
		if (store_jw_add(st, &st->pend[i]) < 0)
			return -1;
	st->npend = 0;
	return store_jw_emit(st);
}

/* A fold is due when half the ring is used, or STORE_FOLD_MS of data time
 * passed since the last one. */
static bool store_fold_due(const struct store *st)
{
	return st->head > st->base &&
	       (st->head - st->base > st->nslots / 2 || st->jmax - st->fold_ts >= STORE_FOLD_MS);
}

/* A failed transaction: rolled back and the memory re-read; when the disk
 * or the budget was full, the oldest readings make room for the next try. */
static void store_failed(struct store *st)
{
	bool full = st->full;

	store_abort(st);
	if (full)
		store_make_room(st);
}

/* The fold (ALL: nothing carried) in a transaction of its own, after the
 * batch: a fold that finds
 * the disk or the budget full makes room and is tried once more. Then size
 * retention, when the fold took the store over its low mark. */
static int store_fold_txn(struct store *st, bool all)
{
	for (int attempt = 0;; attempt++) {
		st->full = false;
		if (store_simple(st, store_sql_begin_immediate, "begin fold") == 0 &&
		    store_fold(st, all) == 0 && store_simple(st, store_sql_commit, "commit fold") == 0)
			break;
		bool full = st->full;
		store_abort(st);
		if (!full || attempt > 0 || store_make_room(st) <= 0)
			return -1;
	}
	return store_trim(st);
}

/* Commit the open batch; FOLD: a fold that is due follows it. */
int store_commit_batch(struct store *st, bool fold)
{
	st->full = false;
	if (st->npend > 0 && (store_batch(st) < 0 || store_write_pending(st) < 0)) {
		store_failed(st);
		return -1;
	}
	if (st->in_batch) {
		if (store_simple(st, store_sql_commit, "commit batch") < 0) {
			store_failed(st);
			return -1;
		}
		st->in_batch = false;
	}
	return fold && store_fold_due(st) ? store_fold_txn(st, false) : 0;
}

int store_flush(struct store *st)
{
	return store_commit_batch(st, true);
}

/* An entry for the next journal write. */
int store_pend(struct store *st, const struct store_ent *e)
{
	if (store_grow((void **)&st->pend, &st->cappend, st->npend + 1, sizeof *st->pend) < 0)
		return -1;
	st->pend[st->npend++] = *e;
	return 0;
}
