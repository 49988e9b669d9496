/*
 * http_page: the status page for the technician on site, and the page of
 * one point. Made for a phone: one column, large type, the worst news
 * first (active alarms, then devices offline), and it reloads itself (a
 * meta refresh: no script). Self-contained: the style is inline, the chart
 * is SVG drawn here, nothing is fetched from elsewhere (the site may have
 * no internet). Every text from the config, the store or a device is
 * escaped (hb_html). Times are the gateway's local time with its offset.
 * The status page is made from the live snapshot alone (http_live.h): no
 * store query, so a phone left on it costs next to nothing; the point page
 * (http_point.c) reads the point's history from the store.
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
const char *const http_sev_colour[CONFIG_NSEVERITIES] = { "#b71c1c", "#d84315", "#f9a825",
							  "#1565c0" };

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
const char *http_short_time(int64_t ms, int64_t now, char *buf, size_t len)
{
	char full[HTTP_TIME_LEN], today[HTTP_TIME_LEN];

	if (ms == QUERY_NO_TIME || ms <= 0)
		return "never";
	http_local_time(ms, full, sizeof full);
	http_local_time(now, today, sizeof today);
	if (strncmp(full, today, 10) == 0)
		snprintf(buf, len, "%.8s", full + 11);
	else
		snprintf(buf, len, "%.16s", full);
	return buf;
}

const char *http_jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int http_sev_index(const char *name)
{
	for (int i = 0; i < CONFIG_NSEVERITIES; i++)
		if (name && strcmp(name, config_severity_names[i]) == 0)
			return i;
	return SEV_WARNING;
}

const char *http_dev_state(const struct http_live *l, size_t d)
{
	if (!l->view->devs[d].enabled)
		return "disabled";
	return l->devs[d].state == 1 ? "online" : l->devs[d].state == 0 ? "offline" : "unknown";
}

/* ---- the gateway ---------------------------------------------------------- */

static void page_gateway(const struct http_ctx *c, struct hbuf *b)
{
	const struct http_live *l = c->live;
	char t[HTTP_TIME_LEN], d[32];

	hb_puts(b, "<ul class=\"facts card\">");
	hb_printf(b, "<li>Running %s, since %s</li>", http_duration(c->now - l->started_ms, d, sizeof d),
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
	hb_printf(b, "<li>Store: %.1f MB &middot; version %s</li></ul>\n",
		  (double)c->store_bytes / (1024.0 * 1024.0), YW_VERSION);
}

/* ---- alarms --------------------------------------------------------------- */

/* One active alarm, from its latest event. */
void http_page_alarm(const struct http_ctx *c, struct hbuf *b, json_t *ev)
{
	const char *msg = http_jstr(ev, "message"), *sev = http_jstr(ev, "severity");
	const char *point = http_jstr(ev, "point"), *loc = http_jstr(ev, "location");
	const char *unit = http_jstr(ev, "unit"), *raised_ts = http_jstr(ev, "raised_ts");
	char num[NUMFMT_LEN], t[HTTP_TIME_LEN], d[32];
	int64_t raised = QUERY_NO_TIME;
	double v;
	int s = http_sev_index(sev);

	hb_printf(b, "<div class=\"card alarm\" style=\"border-left-color:%s\">"
		     "<p class=\"head\"><b>", http_sev_colour[s]);
	hb_html(b, msg ? msg : http_jstr(ev, "alarm"));
	hb_printf(b, "</b><span class=\"badge\" style=\"background:%s\">", http_sev_colour[s]);
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
		hb_html(b, http_jstr(ev, "device"));
		hb_puts(b, "</b> does not answer");
	}
	hb_puts(b, "</p><p>");
	if (loc) {
		hb_html(b, loc);
		hb_puts(b, " &middot; ");
	}
	hb_html(b, http_jstr(ev, "category"));
	hb_puts(b, " &middot; ");
	hb_html(b, http_jstr(ev, "alarm"));
	if (util_parse_time(raised_ts ? raised_ts : "", 0, &raised) == 0)
		hb_printf(b, "</p><p>Since %s (%s)", http_local_time(raised, t, sizeof t),
			  http_duration(c->now - raised, d, sizeof d));
	hb_printf(b, " &middot; %s</p></div>\n", json_is_true(json_object_get(ev, "acked")) ?
		  "acknowledged" : "<b>not acknowledged</b>");
}

/* The most severe first, then the newest raised first. */
static int alarm_order(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int sa = http_sev_index(http_jstr(a, "severity")), sb = http_sev_index(http_jstr(b, "severity"));
	const char *ra = http_jstr(a, "raised_ts"), *rb = http_jstr(b, "raised_ts");

	if (sa != sb)
		return sa - sb;
	return -strcmp(ra ? ra : "", rb ? rb : "");   /* RFC 3339 UTC: text order is time order */
}

/* The active alarms, from their latest events. */
static void page_alarms(const struct http_ctx *c, struct hbuf *b)
{
	const struct http_live *l = c->live;
	json_t **evs = calloc(l->nevents + 1, sizeof *evs);
	size_t n = 0;

	for (size_t i = 0; evs && i < l->nevents; i++) {
		json_error_t err;
		json_t *ev = jsonnum_loads(l->events[i], 0, &err);
		if (json_is_object(ev))
			evs[n++] = ev;
		else
			json_decref(ev);
	}
	hb_printf(b, "<h2 id=\"alarms\">Active alarms (%zu)</h2>\n", n);
	if (n == 0)
		hb_puts(b, "<p class=\"muted\">None.</p>\n");
	if (n > 1)
		qsort(evs, n, sizeof *evs, alarm_order);
	for (size_t i = 0; i < n; i++) {
		http_page_alarm(c, b, evs[i]);
		json_decref(evs[i]);
	}
	free(evs);
}

/* ---- devices -------------------------------------------------------------- */

static void page_points(const struct http_ctx *c, struct hbuf *b, size_t d)
{
	const struct http_view_dev *vd = &c->view->devs[d];
	char v[NUMFMT_LEN + 8], t[HTTP_TIME_LEN];

	if (vd->npoints == 0)
		return;
	hb_puts(b, "<table><tr><th>Point</th><th>Value</th><th>Quality</th><th>Read</th></tr>\n");
	for (size_t i = vd->first; i < vd->first + vd->npoints; i++) {
		const struct http_view_point *p = &c->view->points[i];
		enum yw_quality q = (enum yw_quality)c->live->quality[i];
		struct query_reading r = { .has_value = q == Q_GOOD, .value = c->live->values[i] };
		hb_puts(b, "<tr><td><a href=\"/point/");
		hb_html(b, vd->id);
		hb_puts(b, ".");
		hb_html(b, p->name);
		hb_puts(b, "\">");
		hb_html(b, p->name);
		hb_puts(b, "</a></td><td class=\"v\">");
		http_fmt_value(&r, p->type, v, sizeof v);
		hb_html(b, *v ? v : "\xe2\x80\x94");
		if (*v && *p->unit) {
			hb_puts(b, " ");
			hb_html(b, p->unit);
		}
		hb_printf(b, "</td><td class=\"q %s\">%s</td><td class=\"t\">%s</td></tr>\n",
			  q == Q_GOOD ? "good" : q == Q_BAD ? "bad-q" : "stale", point_quality_name(q),
			  http_short_time(c->live->devs[d].last_ok_ms, c->now, t, sizeof t));
	}
	hb_puts(b, "</table>");
}

static void page_device(const struct http_ctx *c, struct hbuf *b, size_t d)
{
	const struct http_view_dev *vd = &c->view->devs[d];
	const struct http_live_dev *ld = &c->live->devs[d];
	const char *state = http_dev_state(c->live, d);
	bool on = strcmp(state, "online") == 0, off = strcmp(state, "offline") == 0;
	int64_t polls = ld->n.polls_ok + ld->n.polls_failed;
	int64_t errors = ld->n.timeout + ld->n.exception + ld->n.crc + ld->n.gateway + ld->n.other;
	char t[HTTP_TIME_LEN], dur[32];

	hb_puts(b, "<div class=\"card device\" id=\"dev-");
	hb_html(b, vd->id);
	hb_printf(b, "\" style=\"border-left-color:%s\"><div class=\"head\"><h3>",
		  on ? "#2e7d32" : off ? "#b71c1c" : "#90a4ae");
	hb_html(b, vd->id);
	hb_printf(b, "</h3><span class=\"badge %s\">%s</span></div><p class=\"muted\">", state, state);
	if (vd->location[0]) {
		hb_html(b, vd->location);
		hb_puts(b, " &middot; ");
	}
	hb_puts(b, "bus ");
	hb_html(b, vd->bus);
	hb_printf(b, ", unit %d</p><p>", vd->unit);
	if (!vd->enabled) {
		hb_puts(b, "Not polled: disabled in the config</p></div>\n");
		return;
	}
	hb_puts(b, "Last good poll: ");
	if (ld->last_ok_ms > 0)
		hb_printf(b, "%s (%s ago)", http_short_time(ld->last_ok_ms, c->now, t, sizeof t),
			  http_duration(c->now - ld->last_ok_ms, dur, sizeof dur));
	else
		hb_puts(b, "none since the daemon started");
	hb_printf(b, " &middot; %lld error%s in %lld poll%s</p>", (long long)errors,
		  errors == 1 ? "" : "s", (long long)polls, polls == 1 ? "" : "s");
	page_points(c, b, d);
	hb_puts(b, "</div>\n");
}

/* Offline devices first, then online, then the others, each in config order. */
static void page_devices(const struct http_ctx *c, struct hbuf *b)
{
	static const char *const order[] = { "offline", "online", "unknown", "disabled" };

	hb_printf(b, "<h2 id=\"devices\">Devices (%zu)</h2>\n", c->view->ndevs);
	for (int k = 0; k < 4; k++)
		for (size_t d = 0; d < c->view->ndevs; d++)
			if (strcmp(http_dev_state(c->live, d), order[k]) == 0)
				page_device(c, b, d);
}

/* ---- the status page ------------------------------------------------------ */

/* The banners: what is wrong, in one line each. */
static void page_banner(const struct http_ctx *c, struct hbuf *b)
{
	const struct http_live *l = c->live;
	size_t off = 0, on = 0, watched = 0, active = 0;
	bool link_down = false;

	for (size_t d = 0; d < c->view->ndevs; d++) {
		const char *state = http_dev_state(l, d);
		off += strcmp(state, "offline") == 0;
		on += strcmp(state, "online") == 0;
		watched += strcmp(state, "disabled") != 0;
		active += l->devs[d].offline_active;
	}
	for (size_t a = 0; a < c->view->nalarms; a++)
		active += l->alarm_active[a];
	for (size_t i = 0; i < l->nuplinks; i++)
		link_down |= !l->uplinks[i].connected;
	if (active > 0)
		hb_printf(b, "<div class=\"banner bad\">%zu active alarm%s</div>\n", active,
			  active == 1 ? "" : "s");
	if (off > 0)
		hb_printf(b, "<div class=\"banner warn\">%zu of %zu devices offline</div>\n", off,
			  watched);
	if (link_down)
		hb_puts(b, "<div class=\"banner warn\">MQTT link down: the centre does not get "
			   "alarms (they are kept and sent later)</div>\n");
	if (active == 0 && off == 0 && !link_down)
		hb_printf(b, "<div class=\"banner ok\">All clear &middot; %zu of %zu devices "
			     "online</div>\n", on, watched);
}

int http_page_index(struct http_ctx *c, struct hbuf *b)
{
	const struct http_view *v = c->view;
	char title[YW_TEXT_MAX * 2];

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
	page_banner(c, b);
	page_gateway(c, b);
	page_alarms(c, b);
	page_devices(c, b);
	http_page_end(b, c);
	return 200;
}
