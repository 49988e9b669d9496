/*
 * http_live: the view of the config and the live snapshots the main loop
 * hands the status page (see http_live.h), and the Modbus counters they
 * carry.
 */
#include "http_live.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- counters ----------------------------------------------------------- */

static struct http_modbus *counted(struct http_counted **arr, size_t *n, const char *id)
{
	struct http_counted *a;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i].id, id) == 0)
			return &(*arr)[i].n;
	a = realloc(*arr, (*n + 1) * sizeof *a);
	if (!a)
		return NULL;
	*arr = a;
	a = &a[(*n)++];
	memset(a, 0, sizeof *a);
	util_strlcpy(a->id, id, sizeof a->id);
	return &a->n;
}

static void count(struct http_modbus *m, const struct bus_result *r)
{
	if (!m)
		return;
	if (r->ok)
		m->polls_ok++;
	else
		m->polls_failed++;
	m->timeout += r->timeouts;
	m->exception += r->exceptions;
	m->crc += r->crc;
	m->gateway += r->gateway;
	m->other += r->other;
}

void http_counts_add(struct http_counts *c, const struct config *cfg, const struct bus_result *r)
{
	int d = r->dev;

	if (r->kind != BUS_RES_POLL)
		return;
	/* R->dev indexes the config its worker started with: the one given
	 * here, or an older one whose device of that index had this id */
	if (d < 0 || (size_t)d >= cfg->ndevices || strcmp(cfg->devices[d].id, r->dev_id) != 0)
		d = config_find_device(cfg, r->dev_id);
	if (d < 0 || cfg->devices[d].bus < 0 || (size_t)cfg->devices[d].bus >= cfg->nbuses)
		return;
	count(counted(&c->dev, &c->ndev, r->dev_id), r);
	count(counted(&c->bus, &c->nbus, cfg->buses[cfg->devices[d].bus].id), r);
}

void http_counts_free(struct http_counts *c)
{
	free(c->bus);
	free(c->dev);
	memset(c, 0, sizeof *c);
}

static const struct http_modbus *counts_of(const struct http_counted *arr, size_t n,
					   const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(arr[i].id, id) == 0)
			return &arr[i].n;
	return NULL;
}

/* ---- the view of the config --------------------------------------------- */

static void view_device(struct http_view *v, const struct config *cfg, size_t i)
{
	const struct device_cfg *d = &cfg->devices[i];
	struct http_view_dev *vd = &v->devs[i];

	util_strlcpy(vd->id, d->id, sizeof vd->id);
	if (d->bus >= 0 && (size_t)d->bus < cfg->nbuses)
		util_strlcpy(vd->bus, cfg->buses[d->bus].id, sizeof vd->bus);
	util_strlcpy(vd->location, d->location, sizeof vd->location);
	vd->unit = d->unit;
	vd->enabled = d->enabled;
	vd->category = d->category;
	vd->offline_severity = d->offline_severity;
	vd->first = v->npoints;
	vd->npoints = d->npoints;
	for (size_t p = 0; p < d->npoints; p++) {
		struct http_view_point *vp = &v->points[v->npoints++];
		util_strlcpy(vp->name, d->points[p].name, sizeof vp->name);
		util_strlcpy(vp->unit, d->points[p].unit, sizeof vp->unit);
		vp->type = d->points[p].type;
	}
}

struct http_view *http_view_new(const struct config *cfg)
{
	struct http_view *v = calloc(1, sizeof *v);
	size_t np = config_npoints(cfg);

	if (!v)
		return NULL;
	atomic_init(&v->refs, 1);
	v->buses = calloc(cfg->nbuses + 1, sizeof *v->buses);
	v->devs = calloc(cfg->ndevices + 1, sizeof *v->devs);
	v->points = calloc(np + 1, sizeof *v->points);
	v->alarms = calloc(cfg->nalarms + 1, sizeof *v->alarms);
	if (!v->buses || !v->devs || !v->points || !v->alarms) {
		http_view_unref(v);
		return NULL;
	}
	util_strlcpy(v->site_id, cfg->site_id, sizeof v->site_id);
	util_strlcpy(v->site_name, cfg->site_name, sizeof v->site_name);
	util_strlcpy(v->gateway, cfg->gateway, sizeof v->gateway);
	util_strlcpy(v->password, cfg->http.password, sizeof v->password);
	for (v->nbuses = 0; v->nbuses < cfg->nbuses; v->nbuses++)
		util_strlcpy(v->buses[v->nbuses], cfg->buses[v->nbuses].id, YW_ID_MAX);
	for (v->ndevs = 0; v->ndevs < cfg->ndevices; v->ndevs++)
		view_device(v, cfg, v->ndevs);
	for (v->nalarms = 0; v->nalarms < cfg->nalarms; v->nalarms++) {
		const struct alarm_cfg *a = &cfg->alarms[v->nalarms];
		struct http_view_alarm *va = &v->alarms[v->nalarms];
		util_strlcpy(va->id, a->id, sizeof va->id);
		util_strlcpy(va->point, a->point, sizeof va->point);
		va->when = a->when;
		va->threshold = a->threshold;
		va->clear = a->has_clear ? a->clear : a->threshold;
		va->severity = a->severity;
		va->category = a->category;
	}
	return v;
}

struct http_view *http_view_ref(struct http_view *v)
{
	if (v)
		atomic_fetch_add(&v->refs, 1);
	return v;
}

void http_view_unref(struct http_view *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	explicit_bzero(v->password, sizeof v->password);
	free(v->buses);
	free(v->devs);
	free(v->points);
	free(v->alarms);
	free(v);
}

int http_view_dev(const struct http_view *v, const char *id)
{
	for (size_t i = 0; i < v->ndevs; i++)
		if (strcmp(v->devs[i].id, id) == 0)
			return (int)i;
	return -1;
}

int http_view_alarm(const struct http_view *v, const char *id)
{
	for (size_t i = 0; i < v->nalarms; i++)
		if (strcmp(v->alarms[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* ---- the live snapshot -------------------------------------------------- */

struct http_live *http_live_new(struct http_view *v, const struct http_counts *c)
{
	struct http_live *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	atomic_init(&l->refs, 1);
	l->view = http_view_ref(v);
	l->taken_ms = util_wall_ms();
	l->bus_polled = calloc(v->nbuses + 1, sizeof *l->bus_polled);
	l->bus_n = calloc(v->nbuses + 1, sizeof *l->bus_n);
	l->devs = calloc(v->ndevs + 1, sizeof *l->devs);
	l->values = calloc(v->npoints + 1, sizeof *l->values);
	l->quality = malloc(v->npoints + 1);
	l->alarm_active = calloc(v->nalarms + 1, sizeof *l->alarm_active);
	if (!l->bus_polled || !l->bus_n || !l->devs || !l->values || !l->quality ||
	    !l->alarm_active) {
		http_live_unref(l);
		return NULL;
	}
	memset(l->quality, Q_STALE, v->npoints + 1);
	for (size_t b = 0; c && b < v->nbuses; b++) {
		const struct http_modbus *m = counts_of(c->bus, c->nbus, v->buses[b]);
		if (m)
			l->bus_n[b] = *m;
	}
	for (size_t d = 0; d < v->ndevs; d++) {
		const struct http_modbus *m = c ? counts_of(c->dev, c->ndev, v->devs[d].id) : NULL;
		l->devs[d].state = -1;
		if (m)
			l->devs[d].n = *m;
	}
	return l;
}

int http_live_uplink(struct http_live *l, const char *id, bool connected, int64_t depth,
		     int64_t oldest_ms)
{
	struct http_uplink *u = realloc(l->uplinks, (l->nuplinks + 1) * sizeof *u);

	if (!u)
		return -1;
	l->uplinks = u;
	u = &l->uplinks[l->nuplinks++];
	memset(u, 0, sizeof *u);
	util_strlcpy(u->id, id, sizeof u->id);
	u->connected = connected;
	u->outbox_depth = depth;
	u->oldest_ms = oldest_ms;
	return 0;
}

int http_live_event(struct http_live *l, const char *json)
{
	char **e = realloc(l->events, (l->nevents + 1) * sizeof *e);

	if (!e)
		return -1;
	l->events = e;
	if (!(e[l->nevents] = strdup(json)))
		return -1;
	l->nevents++;
	return 0;
}

struct http_live *http_live_ref(struct http_live *l)
{
	if (l)
		atomic_fetch_add(&l->refs, 1);
	return l;
}

void http_live_unref(struct http_live *l)
{
	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	for (size_t i = 0; i < l->nevents; i++)
		free(l->events[i]);
	free(l->events);
	free(l->uplinks);
	free(l->bus_polled);
	free(l->bus_n);
	free(l->devs);
	free(l->values);
	free(l->quality);
	free(l->alarm_active);
	http_view_unref(l->view);
	free(l);
}
