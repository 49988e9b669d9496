/*
 * configure: binds the store to a config (store_configure, at start and on
 * every reload). Owns the devices and points tables' upserts, the numbers
 * and ids the journal names them by, marking what the config no longer has
 * as removed (its history stays), and the in-memory tables the other rooms
 * index by the config's device and point positions. The budget of max_mb
 * (budget.c) is made here, for the config's points.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* A new device starts offline (disabled when it is); a device re-enabled or
 * back from removal is offline until its first good poll. */
static const char sql_device_upsert[] =
	"INSERT INTO devices (id, ord, bus, unit_id, enabled, location, category, state, num)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	"         CASE WHEN ?5 THEN 'offline' ELSE 'disabled' END,"
	"         (SELECT coalesce(max(num), 0) + 1 FROM devices))"
	" ON CONFLICT (id) DO UPDATE SET"
	"   ord = excluded.ord,"
	"   bus = excluded.bus,"
	"   unit_id = excluded.unit_id,"
	"   enabled = excluded.enabled,"
	"   location = excluded.location,"
	"   category = excluded.category,"
	"   state = CASE WHEN excluded.enabled = 0 THEN 'disabled'"
	"                WHEN devices.state IN ('disabled', 'removed') THEN 'offline'"
	"                ELSE devices.state END";

static const char sql_device_num[] = "SELECT num FROM devices WHERE id = ?1";

static const char sql_device_list[] = "SELECT id FROM devices WHERE state <> 'removed'";

static const char sql_device_remove[] = "UPDATE devices SET state = 'removed' WHERE id = ?1";

static const char sql_point_upsert[] =
	"INSERT INTO points (device, point, ord, type, unit, removed)"
	" VALUES (?1, ?2, ?3, ?4, ?5, 0)"
	" ON CONFLICT (device, point) DO UPDATE SET"
	"   ord = excluded.ord,"
	"   type = excluded.type,"
	"   unit = excluded.unit,"
	"   removed = 0";

static const char sql_point_id[] = "SELECT id FROM points WHERE device = ?1 AND point = ?2";

static const char sql_point_list[] = "SELECT id, device, point FROM points WHERE removed = 0";

static const char sql_point_remove[] = "UPDATE points SET removed = 1 WHERE id = ?1";

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
	if (!(s = store_stmt(st, sql_device_list)))
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(s, 0);
		if (!id || store_cfg_has_point(cfg, id, NULL))
			continue;
		if (store_grow((void **)&names, &cap, n + 1, sizeof *names) < 0) {
			sqlite3_reset(s);
			goto out_free;
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
		if (!(s = store_stmt(st, sql_device_remove)))
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
	if (!(s = store_stmt(st, sql_point_list)))
		goto out_free;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *dev = (const char *)sqlite3_column_text(s, 1);
		const char *pt = (const char *)sqlite3_column_text(s, 2);
		if (dev && pt && store_cfg_has_point(cfg, dev, pt))
			continue;
		if (store_grow((void **)&ids, &cap, n + 1, sizeof *ids) < 0) {
			sqlite3_reset(s);
			goto out_free;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "list points");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(s = store_stmt(st, sql_point_remove)))
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

static int store_upsert_device(struct store *st, const struct config *cfg, size_t d,
			       struct store_dev *devs, struct store_pt *pts)
{
	const struct device_cfg *dc = &cfg->devices[d];
	sqlite3_stmt *s = store_stmt(st, sql_device_upsert);
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
	if (!(s = store_stmt(st, sql_device_num)))
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

		if (!(s = store_stmt(st, sql_point_upsert)))
			return -1;
		sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, pc->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (int64_t)p);
		sqlite3_bind_text(s, 4, point_type_name(pc->type), -1, SQLITE_STATIC);
		store_bind_text(s, 5, pc->unit);
		if (store_run(st, s, "write point") < 0)
			return -1;
		if (!(s = store_stmt(st, sql_point_id)))
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
	int64_t now = util_wall_ms(), page;
	struct store_budget budget;
	bool changed;

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

	/* The budget first: max_page_count must let the ring grow. */
	if (store_int(st, store_sql_page_size, &page) < 0)
		goto out_free;
	store_budget_plan(&budget, cfg->max_mb, page, st->slot_bytes, npts, cfg->ndevices);
	changed = st->budget.max != budget.max || st->budget.low != budget.low;
	st->budget = budget;
	if (store_budget_apply(st, &budget) < 0)
		goto out_free;
	if (store_simple(st, store_sql_begin_immediate, "begin configure") < 0)
		goto out_free;
	if (store_journal_size(st, budget.slots) < 0 ||
	    store_meta_int(st, "max_bytes", budget.max, "write meta") < 0 ||
	    store_meta_text(st, "site", cfg->site_id) < 0 ||
	    store_meta_text(st, "site_name", cfg->site_name) < 0 ||
	    store_meta_text(st, "gateway", cfg->gateway) < 0 ||
	    store_meta_text(st, "control_socket", cfg->control_socket) < 0)
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
	if (store_simple(st, store_sql_commit, "commit configure") < 0)
		goto out_rollback;

	free(st->devs);
	free(st->pts);
	free(st->byid);
	st->devs = devs;
	st->pts = pts;
	st->byid = byid;
	st->npts = npts;
	st->cfg = cfg;
	if (changed && budget.low < (budget.slots + 256) * page)
		log_warn("store", "%s: storage.max_mb %d is too small for %zu points: the WAL and "
			 "the journal take %lld KB of it, nearly nothing is left for readings",
			 st->path, cfg->max_mb, npts,
			 (long long)((budget.max - budget.low) / 1024));
	return 0;

out_rollback:
	store_rollback(st, "rollback configure");
	store_journal_load(st);     /* a fold or resize was rolled back too */
out_free:
	free(devs);
	free(pts);
	free(byid);
	return -1;
}
