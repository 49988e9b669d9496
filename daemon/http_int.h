/*
 * http_int: what the status page's files share (private to them). The
 * server is:
 *   http.c         libmicrohttpd in its own thread: limits, methods, auth,
 *                  the snapshots, dispatch
 *   http_req.c     paths, arguments, listen, basic auth (pure, fuzzed)
 *   http_page.c    the page for people, /, and what the pages share
 *   http_point.c   the page of a point, /point/DEV.PT
 *   http_chart.c   a point's last 24 h as an SVG chart
 *   http_api.c     /api/...: the command line's JSON, by the query module
 *   http_metrics.c /metrics: Prometheus text format 0.0.4
 *   http_text.c    buffer, escaping, local times
 *   http_live.c    the snapshots the main loop hands over
 * A handler runs in the server's thread only. The page and /metrics are
 * made from the live snapshot and its view of the config (http_live.h);
 * the API and a point's history read the store through the server's own
 * read-only connection (store/query.h), one read transaction per answer and
 * never across network I/O. No handler sees the gateway or its config.
 */
#ifndef YW_HTTP_INT_H
#define YW_HTTP_INT_H

#include <jansson.h>

#include "http_live.h"
#include "http_req.h"
#include "http_text.h"
#include "store/query.h"

#define HTTP_ANSWER_MAX (8u << 20)   /* the largest answer built */
#define HTTP_PAGE_REFRESH_S 10       /* the status page reloads itself */
#define HTTP_POINT_REFRESH_S 30      /* the point page */

/* What a handler is given. */
struct http_ctx {
	struct query *q;                 /* read-only connection to the store
	                                    (NULL for the page and /metrics) */
	const struct http_view *view;    /* LIVE's */
	const struct http_live *live;
	const struct http_req *req;
	int64_t now;                     /* wall ms */
	int pid;
	int64_t store_bytes;             /* the store's file and WAL */
	char err[256];                   /* why, when the status is not 200 */
};

/* Each handler appends the answer's body to B and returns its HTTP status;
 * when it is not 200, CTX->err says why (B is then discarded). A failure
 * of the store is 503. */
int http_page_index(struct http_ctx *c, struct hbuf *b);
int http_page_point(struct http_ctx *c, struct hbuf *b);
int http_api(struct http_ctx *c, struct hbuf *b);
int http_metrics(struct http_ctx *c, struct hbuf *b);

/* http_page.c, shared with the point page and /metrics: the head of a
 * page (title escaped) and its end; a value as text ("" when none); a time
 * in a table (the clock time when it is today; "never" for none); a string
 * member of an event; a severity's index by name and its colour; one active
 * alarm's card from its event; the name of device D's state: online,
 * offline, unknown (not polled since the daemon started) or disabled. */
void http_page_head(struct hbuf *b, const char *title, int refresh_s);
void http_page_end(struct hbuf *b, const struct http_ctx *c);
char *http_fmt_value(const struct query_reading *r, enum yw_type type, char *buf, size_t len);
const char *http_short_time(int64_t ms, int64_t now, char *buf, size_t len);
const char *http_jstr(json_t *o, const char *key);
int http_sev_index(const char *name);
extern const char *const http_sev_colour[CONFIG_NSEVERITIES];
void http_page_alarm(const struct http_ctx *c, struct hbuf *b, json_t *ev);
const char *http_dev_state(const struct http_live *l, size_t d);

/* http_chart.c: the point's readings of the last 24 h (to C->now) as an
 * SVG chart, with the thresholds of its above/below alarms; and the last
 * readings. A store failure: -1 (C->err says it). */
struct http_chart;
struct http_chart *http_chart_new(int64_t now);
void http_chart_free(struct http_chart *ch);
/* Feed the readings in time order; the chart keeps the newest few too. */
void http_chart_add(struct http_chart *ch, const struct query_reading *r);
/* A level V drawn across (DASHED: the clear level), LABEL (or NULL) under
 * the line (UNDER) or above it. */
void http_chart_threshold(struct http_chart *ch, double v, bool dashed, bool under,
			  const char *label);
void http_chart_svg(struct http_chart *ch, struct hbuf *b, enum yw_type type, const char *unit);
/* The newest readings fed (at most HTTP_RECENT), newest first. */
#define HTTP_RECENT 20
size_t http_chart_recent(const struct http_chart *ch, struct query_reading *out);

/* The store failed: 503 with its message. */
int http_store_fail(struct http_ctx *c);

#endif
