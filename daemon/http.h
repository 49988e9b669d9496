/*
 * http: the status page's server (docs/status-page.md). With an `http`
 * section, yardwatchd serves on `listen`, read-only: / and /point/DEV.PT
 * for people, /api/... (the command line's JSON) and /metrics (Prometheus).
 *
 * libmicrohttpd runs it in a thread of its own, so no client can delay
 * polling or alarm delivery: that thread makes the page and /metrics from
 * the snapshots the main loop publishes (http_live.h), and reads the store
 * for the API and a point's history through its own read-only connection
 * (store/query.h); it never touches the gateway, the config or the main
 * thread's store. Bounds: connections (in all and per address), an
 * idle timeout, the request's size (a header over 8 KB is 431, any body
 * 413), only GET and HEAD (405), the memory held by answers not yet sent.
 * With http.password_file every path asks for basic auth.
 *
 * Main loop only: every function here is called from the main thread.
 */
#ifndef YW_HTTP_H
#define YW_HTTP_H

#include "config.h"
#include "http_live.h"

struct http;

/* Start serving CFG's http section: NULL when there is none, or when the
 * address cannot be bound (logged: the daemon runs on without the page). */
struct http *http_start(const struct config *cfg);

/* After a reload: start, stop or move the server as CFG says (a changed
 * `listen` restarts it), and hand it CFG's view (password, site, devices,
 * alarms). *H is replaced. */
void http_reconfigure(struct http **h, const struct config *cfg);

/* A new live snapshot against the server's view of the config, with the
 * counters in C, for gateway_live() to fill; NULL when H is (no server) or
 * out of memory. */
struct http_live *http_snapshot(struct http *h, const struct http_counts *c);
/* Hand it over (taken: the server keeps a reference). */
void http_publish(struct http *h, struct http_live *l);

/* Stop: open connections are closed, the thread joined. NULL is a no-op. */
void http_stop(struct http *h);

#endif
