/*
 * http_live: the snapshots the main loop hands the status page (see
 * http_live.h), and the Modbus counters they carry.
 */
#include "http_live.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- counters ----------------------------------------------------------- */

static struct http_counts_bus *counts_of(struct http_counts *c, const char *bus)
{
	struct http_counts_bus *b;

	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->bus[i].id, bus) == 0)
			return &c->bus[i];
	b = realloc(c->bus, (c->n + 1) * sizeof *b);
	if (!b)
		return NULL;
	c->bus = b;
	b = &c->bus[c->n++];
	memset(b, 0, sizeof *b);
	util_strlcpy(b->id, bus, sizeof b->id);
	return b;
}

void http_counts_add(struct http_counts *c, const struct config *cfg, const struct bus_result *r)
{
	struct http_counts_bus *b;
	int d = r->dev;

	if (r->kind != BUS_RES_POLL)
		return;
	/* R->dev indexes the config its worker started with: the one given
	 * here, or an older one whose device of that index had this id */
	if (d < 0 || (size_t)d >= cfg->ndevices || strcmp(cfg->devices[d].id, r->dev_id) != 0)
		d = config_find_device(cfg, r->dev_id);
	if (d < 0 || cfg->devices[d].bus < 0 || (size_t)cfg->devices[d].bus >= cfg->nbuses)
		return;
	b = counts_of(c, cfg->buses[cfg->devices[d].bus].id);
	if (!b)
		return;
	if (r->ok)
		b->n.polls_ok++;
	else
		b->n.polls_failed++;
	b->n.timeout += r->timeouts;
	b->n.exception += r->exceptions;
	b->n.crc += r->crc;
	b->n.gateway += r->gateway;
	b->n.other += r->other;
}

void http_counts_free(struct http_counts *c)
{
	free(c->bus);
	c->bus = NULL;
	c->n = 0;
}

/* ---- the live snapshot -------------------------------------------------- */

struct http_live *http_live_new(const struct config *cfg, const struct http_counts *c)
{
	struct http_live *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	atomic_init(&l->refs, 1);
	l->taken_ms = util_wall_ms();
	l->buses = calloc(cfg->nbuses ? cfg->nbuses : 1, sizeof *l->buses);
	if (!l->buses) {
		free(l);
		return NULL;
	}
	l->nbuses = cfg->nbuses;
	for (size_t b = 0; b < cfg->nbuses; b++) {
		util_strlcpy(l->buses[b].id, cfg->buses[b].id, sizeof l->buses[b].id);
		for (size_t i = 0; c && i < c->n; i++)
			if (strcmp(c->bus[i].id, cfg->buses[b].id) == 0)
				l->buses[b].n = c->bus[i].n;
	}
	return l;
}

int http_live_uplink(struct http_live *l, const char *id, bool connected, int64_t depth)
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
	free(l->uplinks);
	free(l->buses);
	free(l);
}

/* ---- the view of the config --------------------------------------------- */

struct http_view *http_view_new(const struct config *cfg)
{
	struct http_view *v = calloc(1, sizeof *v);

	if (!v)
		return NULL;
	atomic_init(&v->refs, 1);
	v->devs = calloc(cfg->ndevices ? cfg->ndevices : 1, sizeof *v->devs);
	v->alarms = calloc(cfg->nalarms ? cfg->nalarms : 1, sizeof *v->alarms);
	if (!v->devs || !v->alarms) {
		http_view_unref(v);
		return NULL;
	}
	util_strlcpy(v->site_id, cfg->site_id, sizeof v->site_id);
	util_strlcpy(v->site_name, cfg->site_name, sizeof v->site_name);
	util_strlcpy(v->gateway, cfg->gateway, sizeof v->gateway);
	util_strlcpy(v->password, cfg->http.password, sizeof v->password);
	v->ndevs = cfg->ndevices;
	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_cfg *d = &cfg->devices[i];
		util_strlcpy(v->devs[i].id, d->id, sizeof v->devs[i].id);
		util_strlcpy(v->devs[i].location, d->location, sizeof v->devs[i].location);
		v->devs[i].category = d->category;
		v->devs[i].offline_severity = d->offline_severity;
	}
	v->nalarms = cfg->nalarms;
	for (size_t i = 0; i < cfg->nalarms; i++) {
		const struct alarm_cfg *a = &cfg->alarms[i];
		struct http_view_alarm *va = &v->alarms[i];
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
	free(v->devs);
	free(v->alarms);
	free(v);
}

const struct http_view_dev *http_view_dev(const struct http_view *v, const char *id)
{
	for (size_t i = 0; i < v->ndevs; i++)
		if (strcmp(v->devs[i].id, id) == 0)
			return &v->devs[i];
	return NULL;
}

const struct http_view_alarm *http_view_alarm(const struct http_view *v, const char *id)
{
	for (size_t i = 0; i < v->nalarms; i++)
		if (strcmp(v->alarms[i].id, id) == 0)
			return &v->alarms[i];
	return NULL;
}
