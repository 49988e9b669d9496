/*
 * readings: when a reading is worth storing (docs/store.md, "When a reading
 * is stored"). Owns the deadband / max interval / quality / clock rules,
 * the in-memory last stored reading of every point, and loading it from
 * the file (the newest of the point's journal readings and the last one of
 * its last chunk). A reading worth storing becomes a pending journal entry.
 */
#include "store_int.h"

#include <math.h>
#include <string.h>

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
int store_load_memory(struct store *st, const struct config *cfg, struct store_dev *devs,
			     struct store_pt *pts, const struct store_idx *byid, size_t npts)
{
	struct store_load l = { pts, byid, npts };

	for (size_t d = 0; d < cfg->ndevices; d++) {
		if (store_log_last(st, cfg->devices[d].id, &devs[d].logged) < 0)
			return -1;
		for (size_t p = 0; p < devs[d].npts; p++) {
			struct store_pt *sp = &pts[devs[d].first + p];
			sqlite3_stmt *s = store_stmt(st, store_sql_chunk_last);
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
