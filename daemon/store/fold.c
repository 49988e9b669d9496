/*
 * fold: moves the live journal into the archive and the device counters
 * (docs/store.md, "The journal and the fold"). Owns the three passes over
 * the ring (sums and counts; the due readings in batches of point ids; the
 * carried ones), the per-device, per-hour sums of the polls and the rule of
 * which points are archived now and which are carried.
 *
 * Runs inside the open transaction: when half the ring is in use, when
 * STORE_FOLD_MS of data time passed, before the ring is resized, and before
 * retention when the journal holds readings past the cutoff.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static const char sql_stats_add[] =
	"INSERT INTO device_stats (device, hour, polls, ok, timeouts, exceptions, crc, other,"
	"                          gateway)"
	" SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM devices WHERE num = ?1"
	" ON CONFLICT (hour, device) DO UPDATE SET"
	"   polls = polls + excluded.polls,"
	"   ok = ok + excluded.ok,"
	"   timeouts = timeouts + excluded.timeouts,"
	"   exceptions = exceptions + excluded.exceptions,"
	"   crc = crc + excluded.crc,"
	"   other = other + excluded.other,"
	"   gateway = gateway + excluded.gateway";

static const char sql_device_fold[] =
	"UPDATE devices SET"
	"   polls = polls + ?2,"
	"   errors = errors + ?3,"
	"   timeouts = timeouts + ?4,"
	"   exceptions = exceptions + ?5,"
	"   crc = crc + ?6,"
	"   other = other + ?7,"
	"   gateway = gateway + ?8,"
	"   last_ok = CASE WHEN ?9 IS NOT NULL AND (last_ok IS NULL OR ?9 > last_ok)"
	"                  THEN ?9 ELSE last_ok END"
	" WHERE num = ?1";

/* Per-device, per-hour sums of the polls being folded. */
struct store_pagg {
	int num;
	int64_t hour, polls, ok, cnt[5], last_ok;
};

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
	for (int i = 0; i < 5; i++)
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
		int64_t tot[7] = { 0 }, last_ok = INT64_MIN;   /* polls, errors, 5 kinds */
		int num = f->agg[i].num;
		sqlite3_stmt *s;

		for (; i < f->nagg && f->agg[i].num == num; i++) {
			const struct store_pagg *a = &f->agg[i];
			if (!(s = store_stmt(st, sql_stats_add)))
				return -1;
			sqlite3_bind_int(s, 1, num);
			sqlite3_bind_int64(s, 2, a->hour);
			sqlite3_bind_int64(s, 3, a->polls);
			sqlite3_bind_int64(s, 4, a->ok);
			for (int k = 0; k < 5; k++) {
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
		if (!(s = store_stmt(st, sql_device_fold)))
			return -1;
		sqlite3_bind_int(s, 1, num);
		for (int k = 0; k < 7; k++)
			sqlite3_bind_int64(s, 2 + k, tot[k]);
		if (last_ok != INT64_MIN)
			sqlite3_bind_int64(s, 9, last_ok);
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
int store_fold(struct store *st, bool all)
{
	struct store_fold f = { .all = all, .newest = INT64_MIN, .cmin = INT64_MAX };
	int64_t head = st->head, carry = 0;
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
	if (store_meta_int(st, "journal_base", head, "write journal position") < 0)
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
