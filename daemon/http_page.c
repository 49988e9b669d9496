/*
 * http_page: the status page for the technician on site, and the page of
 * one point. Made for a phone: one column, large type, the worst news
 * first (active alarms, then devices offline), and it reloads itself (a
 * meta refresh: no script). Self-contained: the style is inline, the chart
 * is SVG drawn here, nothing is fetched from elsewhere (the site may have
 * no internet). Every text from the config, the store or a device is
 * escaped (hb_html). Times are the gateway's local time with its offset.
 */
#include "http_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../drivers/numfmt.h"
#include "jsonnum.h"
#include "store/query_json.h"
#include "util.h"
#include "version.h"

/* Severity colours: critical, major, minor, warning. */
static const char *const sev_colour[] = { "#b71c1c", "#d84315", "#f9a825", "#1565c0" };

static const char style[] =
	"*{box-sizing:border-box}"
	"body{margin:0;background:#eef0f3;color:#16181d;"
	"font:18px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}"
	"main{max-width:46rem;margin:0 auto;padding:.6rem}"
	"h1{font-size:1.55rem;margin:.3rem 0 0}h2{font-size:1.25rem;margin:1.2rem 0 .4rem}"
	"h3{font-size:1.15rem;margin:0}a{color:#0d47a1}"
	".sub{color:#555;margin:0 0 .5rem}"
	".banner{border-radius:.5rem;padding:.7rem .9rem;font-size:1.3rem;font-weight:700;"
	"color:#fff;margin:.5rem 0}"
	".ok{background:#2e7d32}.warn{background:#d84315}.bad{background:#b71c1c}"
	".card{background:#fff;border-radius:.5rem;padding:.7rem .9rem;margin:.5rem 0;"
	"border-left:.45rem solid #90a4ae;box-shadow:0 1px 2px #0002}"
	".card p{margin:.2rem 0}.facts{margin:0;padding:0;list-style:none}"
	".facts li{padding:.15rem 0}"
	".badge{display:inline-block;border-radius:.3rem;padding:0 .45rem;font-size:.85rem;"
	"font-weight:700;color:#fff;vertical-align:middle;letter-spacing:.02em}"
	".online{background:#2e7d32}.offline{background:#b71c1c}.disabled,.unknown{background:#78909c}"
	".good{color:#2e7d32}.bad-q{color:#b71c1c;font-weight:700}.stale{color:#78909c}"
	".head{display:flex;justify-content:space-between;align-items:center;gap:.5rem}"
	"table{width:100%;border-collapse:collapse;margin-top:.4rem}"
	"td,th{padding:.3rem .2rem;border-top:1px solid #e0e3e8;text-align:left;vertical-align:top}"
	"td:first-child{overflow-wrap:anywhere}td.q{font-size:.9rem}"
	"th{font-size:.85rem;color:#555;font-weight:600}"
	"td.v{text-align:right;font-weight:700;white-space:nowrap}"
	"td.t{color:#555;font-size:.85rem;white-space:nowrap}"
	".big{font-size:2.2rem;font-weight:800}"
	".muted{color:#666;font-size:.9rem}"
	"svg{width:100%;height:auto;background:#fff;border-radius:.5rem}"
	"footer{color:#666;font-size:.85rem;margin:1.5rem 0}";

void http_page_head(struct hbuf *b, const char *title, int refresh_s)
{
	hb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
	hb_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">", refresh_s);
	hb_puts(b, "<title>");
	hb_html(b, title);
	hb_printf(b, "</title><style>%s</style></head>\n<body><main>\n", style);
}

void http_page_end(struct hbuf *b, const struct http_ctx *c)
{
	char t[HTTP_TIME_LEN];

	hb_printf(b, "<footer>yardwatch %s &middot; page made %s (the gateway&#39;s local time) "
		     "&middot; it reloads itself</footer>\n</main></body></html>\n",
		  YW_VERSION, http_local_time(c->now, t, sizeof t));
}

char *http_fmt_value(const struct query_reading *r, enum yw_type type, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!r->has_value)
		return buf;
	if (type == TYPE_BOOL)
		snprintf(buf, len, "%s", r->value != 0 ? "true" : "false");
	else
		numfmt_double(r->value, buf, len);
	return buf;
}

/* A time in a table: the clock time when it is today, else the date too. */
static const char *short_time(int64_t ms, int64_t now, char *buf, size_t len)
{
	char full[HTTP_TIME_LEN], today[HTTP_TIME_LEN];

	if (ms == QUERY_NO_TIME)
		return "never";
	http_local_time(ms, full, sizeof full);
	http_local_time(now, today, sizeof today);
	if (strncmp(full, today, 10) == 0)
		snprintf(buf, len, "%.8s", full + 11);
	else
		snprintf(buf, len, "%.16s", full);
	return buf;
}

/* "12:10:03 (45 s ago)" */
static void when_ago(struct hbuf *b, int64_t ms, int64_t now)
{
	char t[HTTP_TIME_LEN], d[32];

	if (ms == QUERY_NO_TIME) {
		hb_puts(b, "never");
		return;
	}
	hb_printf(b, "%s (%s ago)", short_time(ms, now, t, sizeof t),
		  http_duration(now - ms, d, sizeof d));
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- the gateway ---------------------------------------------------------- */

static void page_gateway(const struct http_ctx *c, struct hbuf *b, const struct query_status *st)
{
	const struct http_live *l = c->live;
	char t[HTTP_TIME_LEN], d[32];

	hb_puts(b, "<ul class=\"facts card\">");
	if (l) {
		hb_printf(b, "<li>Running %s, since %s</li>",
			  http_duration(c->now - l->started_ms, d, sizeof d),
			  http_local_time(l->started_ms, t, sizeof t));
		hb_printf(b, "<li>Clock: %s</li>", l->clock_set ? "set" :
			  "<b>NOT set</b> (times are estimates until it is)");
		for (size_t i = 0; i < l->nuplinks; i++) {
			const struct http_uplink *u = &l->uplinks[i];
			hb_puts(b, "<li>MQTT link ");
			hb_html(b, u->id);
			hb_printf(b, ": %s, %lld %s</li>",
				  u->connected ? "<span class=\"good\">connected</span>" :
						 "<b class=\"bad-q\">NOT connected</b>",
				  (long long)u->outbox_depth,
				  u->outbox_depth == 1 ? "message queued" : "messages queued");
		}
		if (l->nuplinks == 0)
			hb_puts(b, "<li>No MQTT link: readings and alarms stay on the gateway</li>");
	}
	hb_printf(b, "<li>Store: %.1f MB &middot; version %s</li></ul>\n",
		  (double)st->db_bytes / (1024.0 * 1024.0), YW_VERSION);
}

/* ---- alarms --------------------------------------------------------------- */

static int sev_index(const char *name)
{
	for (int i = 0; i < CONFIG_NSEVERITIES; i++)
		if (name && strcmp(name, config_severity_names[i]) == 0)
			return i;
	return SEV_WARNING;
}

/* One active alarm, from its latest event. */
static void page_alarm(const struct http_ctx *c, struct hbuf *b, json_t *ev)
{
	const char *msg = jstr(ev, "message"), *sev = jstr(ev, "severity");
	const char *point = jstr(ev, "point"), *loc = jstr(ev, "location");
	const char *unit = jstr(ev, "unit");
	char num[NUMFMT_LEN], t[HTTP_TIME_LEN], d[32];
	int64_t raised = QUERY_NO_TIME;
	double v;
	int s = sev_index(sev);

	hb_printf(b, "<div class=\"card alarm\" style=\"border-left-color:%s\">"
		     "<p class=\"head\"><b>", sev_colour[s]);
	hb_html(b, msg ? msg : jstr(ev, "alarm"));
	hb_printf(b, "</b><span class=\"badge\" style=\"background:%s\">", sev_colour[s]);
	hb_html(b, sev ? sev : "?");
	hb_puts(b, "</span></p><p>");
	if (point) {
		hb_puts(b, "<a href=\"/point/");
		hb_html(b, point);
		hb_puts(b, "\">");
		hb_html(b, point);
		hb_puts(b, "</a> = <b>");
		json_t *val = json_object_get(ev, "value");
		if (json_is_boolean(val))
			hb_puts(b, json_is_true(val) ? "true" : "false");
		else if (jsonnum_value(val, &v) == 0)
			hb_puts(b, numfmt_double(v, num, sizeof num));
		else
			hb_puts(b, "?");
		if (unit) {
			hb_puts(b, " ");
			hb_html(b, unit);
		}
		hb_puts(b, "</b>");
		if (jsonnum_value(json_object_get(ev, "threshold"), &v) == 0)
			hb_printf(b, " (threshold %s)", numfmt_double(v, num, sizeof num));
	} else {
		hb_puts(b, "Device <b>");
		hb_html(b, jstr(ev, "device"));
		hb_puts(b, "</b> does not answer");
	}
	hb_puts(b, "</p><p>");
	if (loc) {
		hb_html(b, loc);
		hb_puts(b, " &middot; ");
	}
	hb_html(b, jstr(ev, "category"));
	hb_puts(b, " &middot; ");
	hb_html(b, jstr(ev, "alarm"));
	if (util_parse_time(jstr(ev, "raised_ts") ? jstr(ev, "raised_ts") : "", 0, &raised) == 0)
		hb_printf(b, "</p><p>Since %s (%s)", http_local_time(raised, t, sizeof t),
			  http_duration(c->now - raised, d, sizeof d));
	hb_printf(b, " &middot; %s</p></div>\n", json_is_true(json_object_get(ev, "acked")) ?
		  "acknowledged" : "<b>not acknowledged</b>");
}

/* The active alarms, the most severe first (the store gives them newest
 * first; the sort keeps that order within a severity). */
static void page_alarms(const struct http_ctx *c, struct hbuf *b, const struct query_event *rows,
			size_t n)
{
	hb_printf(b, "<h2 id=\"alarms\">Active alarms (%zu)</h2>\n", n);
	if (n == 0)
		hb_puts(b, "<p class=\"muted\">None.</p>\n");
	for (int s = 0; s < CONFIG_NSEVERITIES; s++) {
		for (size_t i = 0; i < n; i++) {
			json_error_t err;
			json_t *ev = query_json_event(&rows[i], &err);
			if (ev && sev_index(jstr(ev, "severity")) == s)
				page_alarm(c, b, ev);
			json_decref(ev);
		}
	}
}

/* ---- devices -------------------------------------------------------------- */

static void page_points(const struct http_ctx *c, struct hbuf *b, const struct query_device *d,
			const struct query_point *pts, size_t npts)
{
	char v[NUMFMT_LEN + 8], t[HTTP_TIME_LEN];
	bool any = false;

	for (size_t i = 0; i < npts; i++) {
		const struct query_point *p = &pts[i];
		if (strcmp(p->device, d->id) != 0)
			continue;
		if (!any)
			hb_puts(b, "<table><tr><th>Point</th><th>Value</th><th>Quality</th>"
				   "<th>Read</th></tr>\n");
		any = true;
		hb_puts(b, "<tr><td><a href=\"/point/");
		hb_html(b, p->id);
		hb_puts(b, "\">");
		hb_html(b, p->point);
		hb_puts(b, "</a></td><td class=\"v\">");
		http_fmt_value(&p->latest, p->type, v, sizeof v);
		hb_html(b, *v ? v : "\xe2\x80\x94");
		if (*v && *p->unit) {
			hb_puts(b, " ");
			hb_html(b, p->unit);
		}
		hb_printf(b, "</td><td class=\"q %s\">%s</td><td class=\"t\">%s</td></tr>\n",
			  p->latest.quality == Q_GOOD ? "good" :
			  p->latest.quality == Q_BAD ? "bad-q" : "stale",
			  point_quality_name(p->latest.quality),
			  short_time(p->latest.ts, c->now, t, sizeof t));
	}
	if (any)
		hb_puts(b, "</table>");
}

static void page_device(const struct http_ctx *c, struct hbuf *b, const struct query_device *d,
			const struct query_point *pts, size_t npts)
{
	const struct http_view_dev *vd = http_view_dev(c->view, d->id);
	bool off = strcmp(d->state, "offline") == 0, on = strcmp(d->state, "online") == 0;
	const char *cls = on ? "online" : off ? "offline" : strcmp(d->state, "disabled") == 0 ?
			  "disabled" : "unknown";

	hb_puts(b, "<div class=\"card device\" id=\"dev-");
	hb_html(b, d->id);
	hb_printf(b, "\" style=\"border-left-color:%s\"><div class=\"head\"><h3>",
		  on ? "#2e7d32" : off ? "#b71c1c" : "#90a4ae");
	hb_html(b, d->id);
	hb_printf(b, "</h3><span class=\"badge %s\">", cls);
	hb_html(b, d->state);
	hb_puts(b, "</span></div><p class=\"muted\">");
	if (vd && vd->location[0]) {
		hb_html(b, vd->location);
		hb_puts(b, " &middot; ");
	}
	hb_puts(b, "bus ");
	hb_html(b, d->bus);
	hb_printf(b, ", unit %lld</p><p>Last good poll: ", (long long)d->unit_id);
	when_ago(b, d->last_ok, c->now);
	hb_printf(b, " &middot; %lld error%s in %lld poll%s</p>", (long long)d->errors,
		  d->errors == 1 ? "" : "s", (long long)d->polls, d->polls == 1 ? "" : "s");
	page_points(c, b, d, pts, npts);
	hb_puts(b, "</div>\n");
}

/* Offline devices first, then online, then the others, each in config order. */
static void page_devices(const struct http_ctx *c, struct hbuf *b, const struct query_device *devs,
			 size_t ndevs, const struct query_point *pts, size_t npts)
{
	static const char *const order[] = { "offline", "online", NULL };

	hb_printf(b, "<h2 id=\"devices\">Devices (%zu)</h2>\n", ndevs);
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < ndevs; i++) {
			bool listed = strcmp(devs[i].state, "offline") == 0 ||
				      strcmp(devs[i].state, "online") == 0;
			if (order[k] ? strcmp(devs[i].state, order[k]) == 0 : !listed)
				page_device(c, b, &devs[i], pts, npts);
		}
	}
}

/* ---- the status page ------------------------------------------------------ */

/* The banner: what is wrong, in one line. */
static void page_banner(const struct http_ctx *c, struct hbuf *b, const struct query_status *st,
			const struct query_device *devs, size_t ndevs)
{
	size_t off = 0;
	bool link_down = false;

	for (size_t i = 0; i < ndevs; i++)
		off += strcmp(devs[i].state, "offline") == 0;
	for (size_t i = 0; c->live && i < c->live->nuplinks; i++)
		link_down |= !c->live->uplinks[i].connected;
	if (st->alarms_active > 0)
		hb_printf(b, "<div class=\"banner bad\">%lld active alarm%s</div>\n",
			  (long long)st->alarms_active, st->alarms_active == 1 ? "" : "s");
	if (off > 0)
		hb_printf(b, "<div class=\"banner warn\">%zu of %zu devices offline</div>\n", off,
			  ndevs);
	if (link_down)
		hb_puts(b, "<div class=\"banner warn\">MQTT link down: the centre does not get "
			   "alarms (they are kept and sent later)</div>\n");
	if (st->alarms_active == 0 && off == 0 && !link_down)
		hb_printf(b, "<div class=\"banner ok\">All clear &middot; %lld of %lld devices "
			     "online</div>\n", (long long)st->devices_online,
			  (long long)st->devices_total);
}

int http_page_index(struct http_ctx *c, struct hbuf *b)
{
	struct query_status st;
	struct query_device *devs = NULL;
	struct query_point *pts = NULL;
	struct query_event *evs = NULL;
	size_t ndevs = 0, npts = 0, nevs = 0;
	const struct http_view *v = c->view;
	char title[YW_TEXT_MAX * 2];
	int rc;

	memset(&st, 0, sizeof st);
	if (query_begin(c->q) != QUERY_OK)
		return http_store_fail(c);
	rc = query_status(c->q, &st);
	if (rc == QUERY_OK)
		rc = query_devices(c->q, &devs, &ndevs);
	if (rc == QUERY_OK)
		rc = query_points(c->q, NULL, &pts, &npts);
	if (rc == QUERY_OK)
		rc = query_alarms(c->q, true, INT64_MIN, &evs, &nevs);
	query_end(c->q);
	if (rc != QUERY_OK) {
		rc = http_store_fail(c);
		goto out_free;
	}
	snprintf(title, sizeof title, "%s %s", v->site_name[0] ? v->site_name : v->site_id,
		 v->gateway);
	http_page_head(b, title, HTTP_PAGE_REFRESH_S);
	hb_puts(b, "<header><h1>");
	hb_html(b, v->site_name[0] ? v->site_name : v->site_id);
	hb_puts(b, "</h1><p class=\"sub\">site ");
	hb_html(b, v->site_id);
	hb_puts(b, " &middot; gateway <b>");
	hb_html(b, v->gateway);
	hb_puts(b, "</b></p></header>\n");
	page_banner(c, b, &st, devs, ndevs);
	page_gateway(c, b, &st);
	page_alarms(c, b, evs, nevs);
	page_devices(c, b, devs, ndevs, pts, npts);
	http_page_end(b, c);
	rc = 200;
out_free:
	query_status_free(&st);
	free(devs);
	free(pts);
	query_events_free(evs, nevs);
	return rc;
}

/* ---- a point -------------------------------------------------------------- */

static void point_head(const struct http_ctx *c, struct hbuf *b, const struct query_point *p,
		       const struct query_event *evs, size_t nevs)
{
	const struct http_view_dev *vd = http_view_dev(c->view, p->device);
	char v[NUMFMT_LEN], t[HTTP_TIME_LEN];
	int worst = CONFIG_NSEVERITIES;   /* of the point's active alarms: none */

	for (size_t i = 0; i < nevs; i++) {
		json_error_t err;
		json_t *ev = query_json_event(&evs[i], &err);
		const char *pt = ev ? jstr(ev, "point") : NULL;
		if (pt && strcmp(pt, p->id) == 0 && sev_index(jstr(ev, "severity")) < worst)
			worst = sev_index(jstr(ev, "severity"));
		json_decref(ev);
	}
	http_page_head(b, p->id, HTTP_POINT_REFRESH_S);
	hb_puts(b, "<p><a href=\"/\">&larr; all devices</a></p><header><h1>");
	hb_html(b, p->id);
	hb_puts(b, "</h1><p class=\"sub\">");
	if (vd && vd->location[0]) {
		hb_html(b, vd->location);
		hb_puts(b, " &middot; ");
	}
	hb_puts(b, "device ");
	hb_html(b, p->device);
	if (worst < CONFIG_NSEVERITIES)   /* in alarm: the value in the alarm's colour */
		hb_printf(b, "</p></header>\n<div class=\"card\" style=\"border-left-color:%s\">"
			     "<span class=\"big\" style=\"color:%s\">", sev_colour[worst],
			  sev_colour[worst]);
	else
		hb_puts(b, "</p></header>\n<div class=\"card\"><span class=\"big\">");
	http_fmt_value(&p->latest, p->type, v, sizeof v);
	hb_html(b, *v ? v : "\xe2\x80\x94");
	if (*v && *p->unit) {
		hb_puts(b, " ");
		hb_html(b, p->unit);
	}
	hb_printf(b, "</span><p><span class=\"%s\">%s</span> &middot; read %s</p></div>\n",
		  p->latest.quality == Q_GOOD ? "good" : p->latest.quality == Q_BAD ? "bad-q" :
		  "stale", point_quality_name(p->latest.quality),
		  p->latest.ts == QUERY_NO_TIME ? "never" : http_local_time(p->latest.ts, t, sizeof t));
	for (size_t i = 0; i < nevs; i++) {
		json_error_t err;
		json_t *ev = query_json_event(&evs[i], &err);
		const char *pt = ev ? jstr(ev, "point") : NULL;
		if (pt && strcmp(pt, p->id) == 0)
			page_alarm(c, b, ev);
		json_decref(ev);
	}
}

static void point_recent(const struct http_ctx *c, struct hbuf *b, const struct http_chart *ch,
			 const struct query_point *p)
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
		http_fmt_value(&r[i], p->type, v, sizeof v);
		hb_printf(b, "<tr><td class=\"t\">%s</td><td class=\"v\">",
			  short_time(r[i].ts, c->now, t, sizeof t));
		hb_html(b, *v ? v : "\xe2\x80\x94");
		hb_printf(b, "</td><td>%s</td></tr>\n", point_quality_name(r[i].quality));
	}
	hb_puts(b, n ? "</table></div>\n" : "</div>\n");
	hb_puts(b, "<p class=\"muted\">Readings are stored when a value changes by more than "
		   "its deadband, and at least every few minutes.</p>\n");
}

/* The point P's chart: its readings of the last 24 h, the thresholds of
 * its above/below alarms. -1 on a store failure. */
static int point_chart(struct http_ctx *c, struct http_chart *ch, const struct query_point *p)
{
	struct query_history *h;
	struct query_reading r;
	char label[64], num[NUMFMT_LEN];
	int rc;

	for (size_t i = 0; i < c->view->nalarms; i++) {
		const struct http_view_alarm *a = &c->view->alarms[i];
		if (strcmp(a->point, p->id) != 0 || (a->when != WHEN_ABOVE && a->when != WHEN_BELOW))
			continue;
		snprintf(label, sizeof label, "alarm %s %s", a->when == WHEN_ABOVE ? "above" :
			 "below", numfmt_double(a->threshold, num, sizeof num));
		http_chart_threshold(ch, a->threshold, false, a->when == WHEN_BELOW, label);
		if (a->clear != a->threshold)
			http_chart_threshold(ch, a->clear, true, false, NULL);
	}
	rc = query_history_open(c->q, p->id, c->now - 86400000LL, c->now, QUERY_HISTORY_IN_FORCE,
				&h);
	if (rc != QUERY_OK)
		return -1;
	while ((rc = query_history_next(h, &r)) == 1)
		http_chart_add(ch, &r);
	query_history_close(h);
	return rc < 0 ? -1 : 0;
}

int http_page_point(struct http_ctx *c, struct hbuf *b)
{
	const char *dot = strchr(c->req->arg, '.');
	char dev[HTTP_ID_MAX];
	struct query_point *pts = NULL, *p = NULL;
	struct query_event *evs = NULL;
	struct http_chart *ch = http_chart_new(c->now);
	size_t npts = 0, nevs = 0;
	int rc;

	if (!ch || !dot) {
		http_chart_free(ch);
		snprintf(c->err, sizeof c->err, "out of memory");
		return 500;
	}
	snprintf(dev, sizeof dev, "%.*s", (int)(dot - c->req->arg), c->req->arg);
	if (query_begin(c->q) != QUERY_OK) {
		http_chart_free(ch);
		return http_store_fail(c);
	}
	rc = query_points(c->q, dev, &pts, &npts);
	for (size_t i = 0; rc == QUERY_OK && i < npts && !p; i++)
		if (strcmp(pts[i].id, c->req->arg) == 0)
			p = &pts[i];
	if (rc == QUERY_OK && p && point_chart(c, ch, p) < 0)
		rc = QUERY_ERROR;
	if (rc == QUERY_OK && p)
		rc = query_alarms(c->q, true, INT64_MIN, &evs, &nevs);
	query_end(c->q);
	if (rc == QUERY_NOT_FOUND || (rc == QUERY_OK && !p)) {
		snprintf(c->err, sizeof c->err, "no such point: %s", c->req->arg);
		rc = 404;
	} else if (rc != QUERY_OK) {
		rc = http_store_fail(c);
	} else {
		point_head(c, b, p, evs, nevs);
		hb_puts(b, "<h2>Last 24 hours</h2>\n");
		http_chart_svg(ch, b, p->type, p->unit);
		point_recent(c, b, ch, p);
		http_page_end(b, c);
		rc = 200;
	}
	free(pts);
	query_events_free(evs, nevs);
	http_chart_free(ch);
	return rc;
}
