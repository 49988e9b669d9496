/*
 * http_point: the page of one point of the config, /point/DEVICE.POINT:
 * its value now (the live snapshot; in the colour of its worst active
 * alarm), its active alarms, its last 24 hours as a chart (the store's
 * history, http_chart.c) with the thresholds of its above/below alarms,
 * and its last stored readings.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../drivers/numfmt.h"
#include "jsonnum.h"

#define DAY_MS 86400000LL

/* The point: its device D and index P (into the view's points). */
struct point {
	const char *id;             /* DEVICE.POINT */
	size_t d, p;
	const struct http_view_point *vp;
};

/* The active alarms' events about POINT, parsed (into EVS, at most MAX),
 * and the index of the worst severity (CONFIG_NSEVERITIES: none). */
static int point_events(const struct http_ctx *c, const char *point, json_t **evs, size_t max,
			size_t *n)
{
	int worst = CONFIG_NSEVERITIES;

	*n = 0;
	for (size_t i = 0; i < c->live->nevents && *n < max; i++) {
		json_error_t err;
		json_t *ev = jsonnum_loads(c->live->events[i], 0, &err);
		const char *pt = json_is_object(ev) ? http_jstr(ev, "point") : NULL;
		if (!pt || strcmp(pt, point) != 0) {
			json_decref(ev);
			continue;
		}
		if (http_sev_index(http_jstr(ev, "severity")) < worst)
			worst = http_sev_index(http_jstr(ev, "severity"));
		evs[(*n)++] = ev;
	}
	return worst;
}

static void point_head(const struct http_ctx *c, struct hbuf *b, const struct point *pt)
{
	const struct http_view_dev *vd = &c->view->devs[pt->d];
	enum yw_quality q = (enum yw_quality)c->live->quality[pt->p];
	struct query_reading r = { .has_value = q == Q_GOOD, .value = c->live->values[pt->p] };
	int64_t last_ok = c->live->devs[pt->d].last_ok_ms;
	char v[NUMFMT_LEN], t[HTTP_TIME_LEN];
	json_t *evs[16];
	size_t nevs;
	int worst = point_events(c, pt->id, evs, 16, &nevs);

	http_page_head(b, pt->id, HTTP_POINT_REFRESH_S);
	hb_puts(b, "<p><a href=\"/\">&larr; all devices</a></p><header><h1>");
	hb_html(b, pt->id);
	hb_puts(b, "</h1><p class=\"sub\">");
	if (vd->location[0]) {
		hb_html(b, vd->location);
		hb_puts(b, " &middot; ");
	}
	hb_puts(b, "device ");
	hb_html(b, vd->id);
	hb_printf(b, " (%s)</p></header>\n", http_dev_state(c->live, pt->d));
	if (worst < CONFIG_NSEVERITIES)   /* in alarm: the value in the alarm's colour */
		hb_printf(b, "<div class=\"card\" style=\"border-left-color:%s\">"
			     "<span class=\"big\" style=\"color:%s\">", http_sev_colour[worst],
			  http_sev_colour[worst]);
	else
		hb_puts(b, "<div class=\"card\"><span class=\"big\">");
	http_fmt_value(&r, pt->vp->type, v, sizeof v);
	hb_html(b, *v ? v : "\xe2\x80\x94");
	if (*v && *pt->vp->unit) {
		hb_puts(b, " ");
		hb_html(b, pt->vp->unit);
	}
	hb_printf(b, "</span><p><span class=\"%s\">%s</span> &middot; read %s</p></div>\n",
		  q == Q_GOOD ? "good" : q == Q_BAD ? "bad-q" : "stale", point_quality_name(q),
		  last_ok > 0 ? http_local_time(last_ok, t, sizeof t) : "not since the daemon started");
	for (size_t i = 0; i < nevs; i++) {
		http_page_alarm(c, b, evs[i]);
		json_decref(evs[i]);
	}
}

static void point_recent(const struct http_ctx *c, struct hbuf *b, const struct http_chart *ch,
			 const struct point *pt)
{
	struct query_reading r[HTTP_RECENT];
	size_t n = http_chart_recent(ch, r);
	char v[NUMFMT_LEN], t[HTTP_TIME_LEN];

	hb_printf(b, "<h2>Recent readings</h2>\n<div class=\"card\">");
	if (n == 0)
		hb_puts(b, "<p class=\"muted\">None stored in the last 24 h.</p>");
	else
		hb_puts(b, "<table><tr><th>Time</th><th>Value</th><th>Quality</th></tr>\n");
	for (size_t i = 0; i < n; i++) {
		http_fmt_value(&r[i], pt->vp->type, v, sizeof v);
		hb_printf(b, "<tr><td class=\"t\">%s</td><td class=\"v\">",
			  http_short_time(r[i].ts, c->now, t, sizeof t));
		hb_html(b, *v ? v : "\xe2\x80\x94");
		hb_printf(b, "</td><td>%s</td></tr>\n", point_quality_name(r[i].quality));
	}
	hb_puts(b, n ? "</table></div>\n" : "</div>\n");
	hb_puts(b, "<p class=\"muted\">Readings are stored when a value changes by more than "
		   "its deadband, and at least every few minutes.</p>\n");
}

/* The chart: the point's stored readings of the last 24 h, the thresholds
 * of its above/below alarms. 0, or the status of a store failure. */
static int point_chart(struct http_ctx *c, struct http_chart *ch, const struct point *pt)
{
	struct query_history *h;
	struct query_reading r;
	char label[64], num[NUMFMT_LEN];
	int rc;

	for (size_t i = 0; i < c->view->nalarms; i++) {
		const struct http_view_alarm *a = &c->view->alarms[i];
		if (strcmp(a->point, pt->id) != 0 || (a->when != WHEN_ABOVE && a->when != WHEN_BELOW))
			continue;
		snprintf(label, sizeof label, "alarm %s %s", a->when == WHEN_ABOVE ? "above" :
			 "below", numfmt_double(a->threshold, num, sizeof num));
		http_chart_threshold(ch, a->threshold, false, a->when == WHEN_BELOW, label);
		if (a->clear != a->threshold)
			http_chart_threshold(ch, a->clear, true, false, NULL);
	}
	if (query_begin(c->q) != QUERY_OK)
		return http_store_fail(c);
	rc = query_history_open(c->q, pt->id, c->now - DAY_MS, c->now, QUERY_HISTORY_IN_FORCE, &h);
	if (rc == QUERY_OK) {
		while ((rc = query_history_next(h, &r)) == 1)
			http_chart_add(ch, &r);
		query_history_close(h);
	}
	query_end(c->q);
	if (rc == QUERY_NOT_FOUND)   /* configured, never stored yet */
		return 0;
	return rc < 0 ? http_store_fail(c) : 0;
}

int http_page_point(struct http_ctx *c, struct hbuf *b)
{
	const char *dot = strchr(c->req->arg, '.');
	char dev[HTTP_ID_MAX];
	struct point pt = { .id = c->req->arg };
	struct http_chart *ch;
	int d, rc;

	snprintf(dev, sizeof dev, "%.*s", dot ? (int)(dot - c->req->arg) : 0, c->req->arg);
	d = http_view_dev(c->view, dev);
	for (size_t i = 0; d >= 0 && dot && i < c->view->devs[d].npoints && !pt.vp; i++) {
		const struct http_view_point *vp = &c->view->points[c->view->devs[d].first + i];
		if (strcmp(vp->name, dot + 1) == 0) {
			pt.d = (size_t)d;
			pt.p = c->view->devs[d].first + i;
			pt.vp = vp;
		}
	}
	if (!pt.vp) {
		snprintf(c->err, sizeof c->err, "no such point in the config: %s", c->req->arg);
		return 404;
	}
	ch = http_chart_new(c->now);
	if (!ch) {
		snprintf(c->err, sizeof c->err, "out of memory");
		return 500;
	}
	rc = point_chart(c, ch, &pt);
	if (rc == 0) {
		point_head(c, b, &pt);
		hb_puts(b, "<h2>Last 24 hours</h2>\n");
		http_chart_svg(ch, b, pt.vp->type, pt.vp->unit);
		point_recent(c, b, ch, &pt);
		http_page_end(b, c);
		rc = 200;
	}
	http_chart_free(ch);
	return rc;
}
