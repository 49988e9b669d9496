/*
 * http_chart: a point's last 24 hours as an SVG chart, drawn on the server
 * (no script). The readings are a step function: a stored reading holds
 * until the next one (the store keeps a reading when it changes, and at
 * least every store_max_interval_s), a bad or stale one is a gap. The day
 * is cut into CHART_BUCKETS buckets of 5 minutes; each keeps the first,
 * last, lowest and highest value in force during it, so a spike between two
 * pixels still shows, and the chart costs the same for 10 readings or
 * 86,400. The thresholds of the point's above/below alarms are drawn
 * across (the clear level dashed). The newest readings are kept for the
 * table under the chart.
 */
#include "http_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHART_BUCKETS 288
#define CHART_THRESHOLDS 8
#define DAY_MS 86400000LL

/* The drawing, in SVG units. */
#define W 440       /* about a phone's width, so that its text reads as 15 px */
#define H 250
/* plot right, top, bottom; the left is as wide as the labels need */
#define PR 432.0
#define PT 14.0
#define PB 222.0
#define FONT 15

struct bucket {
	bool has;
	double first, last, min, max;
};

struct http_chart {
	int64_t t0, t1;
	struct bucket b[CHART_BUCKETS];
	bool has_prev, finished;
	struct query_reading prev;      /* in force until the next reading */
	struct query_reading recent[HTTP_RECENT];
	size_t nrecent, next;           /* a ring: NEXT is where the next one goes */
	struct {
		double v;
		bool dashed, under;
		char label[64];
	} th[CHART_THRESHOLDS];
	size_t nth;
};

struct http_chart *http_chart_new(int64_t now)
{
	struct http_chart *ch = calloc(1, sizeof *ch);

	if (ch) {
		ch->t0 = now - DAY_MS;
		ch->t1 = now;
	}
	return ch;
}

void http_chart_free(struct http_chart *ch)
{
	free(ch);
}

static int bucket_of(const struct http_chart *ch, int64_t t)
{
	int64_t i = (t - ch->t0) * CHART_BUCKETS / (ch->t1 - ch->t0);

	return i < 0 ? 0 : i >= CHART_BUCKETS ? CHART_BUCKETS - 1 : (int)i;
}

/* R is in force until END. */
static void chart_span(struct http_chart *ch, const struct query_reading *r, int64_t end)
{
	int64_t from = r->ts > ch->t0 ? r->ts : ch->t0, to = end < ch->t1 ? end : ch->t1;
	double v = r->value;

	if (!r->has_value || r->quality != Q_GOOD || !isfinite(v) || to < from)
		return;
	for (int i = bucket_of(ch, from), last = bucket_of(ch, to); i <= last; i++) {
		struct bucket *k = &ch->b[i];
		if (!k->has) {
			k->has = true;
			k->first = k->min = k->max = v;
		}
		k->min = v < k->min ? v : k->min;
		k->max = v > k->max ? v : k->max;
		k->last = v;
	}
}

void http_chart_add(struct http_chart *ch, const struct query_reading *r)
{
	if (ch->has_prev)
		chart_span(ch, &ch->prev, r->ts);
	ch->prev = *r;
	ch->has_prev = true;
	ch->recent[ch->next] = *r;
	ch->next = (ch->next + 1) % HTTP_RECENT;
	if (ch->nrecent < HTTP_RECENT)
		ch->nrecent++;
}

void http_chart_threshold(struct http_chart *ch, double v, bool dashed, bool under,
			  const char *label)
{
	if (ch->nth >= CHART_THRESHOLDS || !isfinite(v))
		return;
	ch->th[ch->nth].v = v;
	ch->th[ch->nth].dashed = dashed;
	ch->th[ch->nth].under = under;
	snprintf(ch->th[ch->nth].label, sizeof ch->th[ch->nth].label, "%s", label ? label : "");
	ch->nth++;
}

size_t http_chart_recent(const struct http_chart *ch, struct query_reading *out)
{
	for (size_t i = 0; i < ch->nrecent; i++)
		out[i] = ch->recent[(ch->next + HTTP_RECENT - 1 - i) % HTTP_RECENT];
	return ch->nrecent;
}

/* ---- drawing ------------------------------------------------------------ */

/* A round step (1, 2 or 5 times a power of ten) near SPAN / 4. */
static double nice_step(double span)
{
	double raw = span / 4, mag = pow(10, floor(log10(raw))), f = raw / mag;

	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

struct scale {
	double lo, hi, step;
	double pl;          /* plot left */
};

static double y_of(const struct scale *s, double v)
{
	return PB - (v - s->lo) / (s->hi - s->lo) * (PB - PT);
}

static double x_of(const struct scale *s, int bucket)
{
	return s->pl + (bucket + 0.5) * (PR - s->pl) / CHART_BUCKETS;
}

/* Tick K's value (an exact 0 rather than 1e-17). */
static double tick_value(const struct scale *s, int k)
{
	double v = s->lo + k * s->step;

	return fabs(v) < s->step * 1e-6 ? 0.0 : v;
}

/* The value range: the data and the thresholds, rounded out to the step. */
static bool chart_scale(const struct http_chart *ch, bool is_bool, struct scale *s)
{
	bool any = false;

	if (is_bool) {
		*s = (struct scale){ -0.1, 1.1, 1, 56 };
		return true;
	}
	for (int i = 0; i < CHART_BUCKETS; i++) {
		if (!ch->b[i].has)
			continue;
		s->lo = any && s->lo < ch->b[i].min ? s->lo : ch->b[i].min;
		s->hi = any && s->hi > ch->b[i].max ? s->hi : ch->b[i].max;
		any = true;
	}
	for (size_t i = 0; i < ch->nth; i++) {
		s->lo = any && s->lo < ch->th[i].v ? s->lo : ch->th[i].v;
		s->hi = any && s->hi > ch->th[i].v ? s->hi : ch->th[i].v;
		any = true;
	}
	if (!any)
		return false;
	if (s->hi - s->lo < 1e-9 * (fabs(s->hi) + 1)) {
		double pad = fabs(s->hi) > 1 ? fabs(s->hi) * 0.1 : 1;
		s->lo -= pad;
		s->hi += pad;
	}
	s->step = nice_step(s->hi - s->lo);
	s->lo = floor(s->lo / s->step) * s->step;
	s->hi = ceil(s->hi / s->step) * s->step;
	if (!(s->hi > s->lo) || !isfinite(s->hi - s->lo))
		return false;
	s->pl = 36;
	for (int k = 0; s->lo + k * s->step <= s->hi + s->step * 1e-6 && k < 50; k++) {
		char t[32];
		int n = snprintf(t, sizeof t, "%.6g", tick_value(s, k));
		if (10 + 8.5 * n > s->pl)
			s->pl = 10 + 8.5 * n;
	}
	return true;
}

static void chart_axes(const struct http_chart *ch, struct hbuf *b, const struct scale *s,
		       bool is_bool)
{
	const int64_t every = 6 * 3600000LL;
	time_t tt = (time_t)(ch->t1 / 1000);
	struct tm tm;
	int64_t off = localtime_r(&tt, &tm) ? (int64_t)tm.tm_gmtoff * 1000 : 0;

	hb_puts(b, "<g stroke=\"#e3e6ea\" stroke-width=\"1\">");
	for (int k = 0; s->lo + k * s->step <= s->hi + s->step * 1e-6 && k < 50; k++)
		hb_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>", s->pl, PR,
			  y_of(s, s->lo + k * s->step), y_of(s, s->lo + k * s->step));
	hb_printf(b, "</g><g font-size=\"%d\" fill=\"#555\" text-anchor=\"end\">", FONT);
	for (int k = 0; s->lo + k * s->step <= s->hi + s->step * 1e-6 && k < 50; k++) {
		double v = tick_value(s, k);
		if (is_bool)
			hb_printf(b, "<text x=\"%.0f\" y=\"%.1f\">%s</text>", s->pl - 5, y_of(s, v) + 5,
				  v > 0.5 ? "true" : "false");
		else
			hb_printf(b, "<text x=\"%.0f\" y=\"%.1f\">%.6g</text>", s->pl - 5,
				  y_of(s, v) + 5, v);
	}
	hb_printf(b, "</g><g font-size=\"%d\" fill=\"#555\" text-anchor=\"middle\">", FONT);
	/* a mark every 6 hours of local time */
	for (int64_t t = ((ch->t0 + off) / every + 1) * every - off; t <= ch->t1; t += every) {
		double x = s->pl + (double)(t - ch->t0) * (PR - s->pl) / (double)(ch->t1 - ch->t0);
		time_t ts = (time_t)(t / 1000);
		if (!localtime_r(&ts, &tm) || x + 20 > W || x - 20 < s->pl)
			continue;   /* a label cut by the edge says nothing */
		hb_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#e3e6ea\"/>"
			     "<text x=\"%.1f\" y=\"%.0f\">%02d:%02d</text>", x, x, PT, PB, x, PB + 22,
			  tm.tm_hour, tm.tm_min);
	}
	hb_printf(b, "</g><line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#888\"/>",
		  s->pl, PR, PB, PB);
}

static void chart_line(const struct http_chart *ch, struct hbuf *b, const struct scale *s)
{
	bool in_run = false;

	hb_puts(b, "<path class=\"data\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2.5\" "
		   "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"");
	for (int i = 0; i < CHART_BUCKETS; i++) {
		const struct bucket *k = &ch->b[i];
		double x = x_of(s, i);
		if (!k->has) {
			in_run = false;
			continue;
		}
		hb_printf(b, "%s%.1f %.1f", in_run ? "L" : "M", x, y_of(s, k->first));
		if (k->min != k->max)
			hb_printf(b, "L%.1f %.1fL%.1f %.1f", x, y_of(s, k->min), x, y_of(s, k->max));
		if (k->last != k->first || k->min != k->max)
			hb_printf(b, "L%.1f %.1f", x, y_of(s, k->last));
		/* a lone bucket is a dot, not nothing */
		if (!in_run && (i + 1 == CHART_BUCKETS || !ch->b[i + 1].has))
			hb_printf(b, "h0.1");
		in_run = true;
	}
	hb_puts(b, "\"/>");
}

static void chart_thresholds(const struct http_chart *ch, struct hbuf *b, const struct scale *s)
{
	for (size_t i = 0; i < ch->nth; i++) {
		double y = y_of(s, ch->th[i].v);
		hb_printf(b, "<line class=\"threshold\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" "
			     "stroke=\"#c62828\" stroke-width=\"2\"%s/>", s->pl, PR, y, y,
			  ch->th[i].dashed ? " stroke-dasharray=\"6 5\" stroke-opacity=\".6\"" : "");
		if (!ch->th[i].label[0])
			continue;
		bool under = ch->th[i].under ? y + 20 < PB : y - 20 < PT;
		hb_printf(b, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"%d\" fill=\"#c62828\" "
			     "text-anchor=\"end\">", PR - 4, under ? y + 17 : y - 6, FONT);
		hb_html(b, ch->th[i].label);
		hb_puts(b, "</text>");
	}
}

void http_chart_svg(struct http_chart *ch, struct hbuf *b, enum yw_type type, const char *unit)
{
	bool is_bool = type == TYPE_BOOL;
	struct scale s;

	if (ch->has_prev && !ch->finished)
		chart_span(ch, &ch->prev, ch->t1);   /* the last reading holds until now */
	ch->finished = true;
	hb_printf(b, "<svg viewBox=\"0 0 %d %d\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
		     "font-family=\"system-ui,sans-serif\"><title>The last 24 hours", W, H);
	if (unit && *unit) {
		hb_puts(b, " (");
		hb_html(b, unit);
		hb_puts(b, ")");
	}
	hb_puts(b, "</title>");
	if (!chart_scale(ch, is_bool, &s)) {
		hb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"18\" fill=\"#666\" "
			     "text-anchor=\"middle\">No good reading in the last 24 hours</text></svg>\n",
			  W / 2, H / 2);
		return;
	}
	chart_axes(ch, b, &s, is_bool);
	chart_thresholds(ch, b, &s);
	chart_line(ch, b, &s);
	if (unit && *unit) {
		hb_printf(b, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"%d\" fill=\"#555\">", s.pl + 4,
			  PT + 14, FONT);
		hb_html(b, unit);
		hb_puts(b, "</text>");
	}
	hb_puts(b, "</svg>\n");
}
