/*
 * http_live: what the main loop hands the status page's thread, since that
 * thread may touch neither the gateway's state nor its config (a reload
 * frees it):
 *   struct http_view   a copy of what the page shows of the config (site,
 *                      buses, devices with their points, alarms, the
 *                      password), made at start and at each reload
 *   struct http_live   the running gateway, taken about once a second by
 *                      the main loop (gateway_live() fills it) against one
 *                      view, which it holds: start time, clock, each MQTT
 *                      link, each bus with its Modbus counters, each device
 *                      (state, last good poll, polls, errors) and point
 *                      (value, quality), each alarm (active, its latest
 *                      event)
 * The page and /metrics are made from these alone (no store query: cheap
 * enough to scrape every second); the API and a point's history read the
 * store. Both are immutable once handed over and reference-counted: the
 * server swaps its pointer under a mutex and whoever drops the last
 * reference frees it, so the main loop never waits for a request.
 */
#ifndef YW_HTTP_LIVE_H
#define YW_HTTP_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"

/* Modbus work since the daemon started. */
struct http_modbus {
	int64_t polls_ok, polls_failed;
	int64_t timeout, exception, crc, gateway, other;   /* failed requests by kind */
};

/* The counters of every bus and device seen so far, by id (main loop only). */
struct http_counts {
	struct http_counted {
		char id[YW_ID_MAX];
		struct http_modbus n;
	} *bus, *dev;
	size_t nbus, ndev;
};

struct http_view_point {
	char name[YW_ID_MAX];
	char unit[YW_TEXT_MAX];
	enum yw_type type;
};

struct http_view_dev {
	char id[YW_ID_MAX];
	char bus[YW_ID_MAX];
	char location[YW_TEXT_MAX];
	int unit;
	bool enabled;
	enum yw_category category;
	enum yw_severity offline_severity;
	size_t first, npoints;          /* its points: view->points[first ..] */
};

struct http_view_alarm {
	char id[YW_ID_MAX];
	char point[YW_FULLID_MAX];
	enum yw_when when;
	double threshold, clear;
	enum yw_severity severity;
	enum yw_category category;
};

struct http_view {
	atomic_int refs;
	char site_id[YW_ID_MAX];
	char site_name[YW_TEXT_MAX];
	char gateway[YW_ID_MAX];
	char password[YW_TEXT_MAX];     /* "" : no auth */
	char (*buses)[YW_ID_MAX];
	size_t nbuses;
	struct http_view_dev *devs;
	size_t ndevs;
	struct http_view_point *points; /* every device's, in order */
	size_t npoints;
	struct http_view_alarm *alarms;
	size_t nalarms;
};

struct http_uplink {
	char id[YW_ID_MAX];
	bool connected;
	int64_t outbox_depth;       /* unsent rows, held events included */
	int64_t oldest_ms;          /* when the oldest queued row was queued; 0: none */
};

struct http_live_dev {
	int state;                  /* -1 not polled yet, 0 offline, 1 online */
	int64_t last_ok_ms;         /* 0: none since the daemon started */
	struct http_modbus n;       /* its polls and failed requests */
	bool offline_active;        /* its DEVICE.offline alarm */
};

struct http_live {
	atomic_int refs;
	struct http_view *view;     /* held: the config it was taken with */
	int64_t taken_ms;           /* wall clock */
	int64_t started_ms;         /* the daemon's start, wall clock */
	bool clock_set;             /* stamps come from a set clock */
	struct http_uplink *uplinks;
	size_t nuplinks;
	bool *bus_polled;           /* view->nbuses: a worker runs it */
	struct http_modbus *bus_n;  /* view->nbuses */
	struct http_live_dev *devs; /* view->ndevs */
	double *values;             /* view->npoints; meaningful when Q_GOOD */
	uint8_t *quality;           /* view->npoints; enum yw_quality (Q_STALE: none) */
	bool *alarm_active;         /* view->nalarms */
	char **events;              /* the latest event (JSON) of each active alarm */
	size_t nevents;
};

/* Count R (a poll result) for its device and bus in CFG (the config R's
 * worker ran); main loop only. */
void http_counts_add(struct http_counts *c, const struct config *cfg, const struct bus_result *r);
void http_counts_free(struct http_counts *c);

/* The view of CFG (one reference); NULL when out of memory. */
struct http_view *http_view_new(const struct config *cfg);
struct http_view *http_view_ref(struct http_view *v);
void http_view_unref(struct http_view *v);
/* The device or alarm of V by id, its index; -1 when absent. */
int http_view_dev(const struct http_view *v, const char *id);
int http_view_alarm(const struct http_view *v, const char *id);

/* A snapshot against V (a new reference to it) with the counters in C;
 * devices not polled yet, points stale, nothing active: gateway_live()
 * fills the rest. NULL when out of memory. */
struct http_live *http_live_new(struct http_view *v, const struct http_counts *c);
/* Add an uplink, or the latest event of an active alarm (copied); -1 when
 * out of memory. */
int http_live_uplink(struct http_live *l, const char *id, bool connected, int64_t depth,
		     int64_t oldest_ms);
int http_live_event(struct http_live *l, const char *json);
struct http_live *http_live_ref(struct http_live *l);
void http_live_unref(struct http_live *l);

#endif
