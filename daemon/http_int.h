/*
 * http_int: what the status page's files share (private to them). The
 * server is:
 *   http.c         libmicrohttpd in its own thread: limits, methods, auth,
 *                  the snapshots, dispatch
 *   http_req.c     paths, arguments, listen, basic auth (pure, fuzzed)
 *   http_page.c    the page for people: / and /point/DEV.PT
 *   http_chart.c   a point's last 24 h as an SVG chart
 *   http_api.c     /api/...: the command line's JSON, by the query module
 *   http_metrics.c /metrics: Prometheus text format 0.0.4
 *   http_text.c    buffer, escaping, local times
 *   http_live.c    the snapshots the main loop hands over
 * A handler runs in the server's thread only. It reads the store through
 * its own read-only connection (store/query.h), one read transaction per
 * answer and never across network I/O, and the snapshots; it never sees
 * the gateway or its config.
 */
#ifndef YW_HTTP_INT_H
#define YW_HTTP_INT_H

#include "http_live.h"
#include "http_req.h"
#include "http_text.h"
#include "store/query.h"

#define HTTP_ANSWER_MAX (8u << 20)   /* the largest answer built */
#define HTTP_PAGE_REFRESH_S 10       /* the status page reloads itself */
#define HTTP_POINT_REFRESH_S 30      /* the point page */

/* What a handler is given. */
struct http_ctx {
	struct query *q;                 /* read-only connection to the store */
	const struct http_view *view;
	const struct http_live *live;    /* NULL before the first snapshot */
	const struct http_req *req;
	int64_t now;                     /* wall ms */
	int pid;
	char err[256];                   /* why, when the status is not 200 */
};

/* Each handler appends the answer's body to B and returns its HTTP status;
 * when it is not 200, CTX->err says why (B is then discarded). A failure
 * of the store is 503. */
int http_page_index(struct http_ctx *c, struct hbuf *b);
int http_page_point(struct http_ctx *c, struct hbuf *b);
int http_api(struct http_ctx *c, struct hbuf *b);
int http_metrics(struct http_ctx *c, struct hbuf *b);

/* http_page.c, shared with the chart: the head of a page (title escaped)
 * and its end; a value as text ("" when none). */
void http_page_head(struct hbuf *b, const char *title, int refresh_s);
void http_page_end(struct hbuf *b, const struct http_ctx *c);
char *http_fmt_value(const struct query_reading *r, enum yw_type type, char *buf, size_t len);

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
