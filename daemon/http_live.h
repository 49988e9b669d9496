/*
 * http_live: what the main loop hands the status page's thread, since that
 * thread may touch neither the gateway's state nor its config (a reload
 * frees it):
 *   struct http_live   the running gateway, taken about once a second by
 *                      the main loop (gateway_live() fills it): start time,
 *                      clock, each MQTT link, each bus with its Modbus
 *                      counters (struct http_counts, kept by main.c)
 *   struct http_view   a copy of what the page shows of the config (site,
 *                      device locations, alarm thresholds, the password),
 *                      made at start and at each reload
 * Both are immutable once handed over and reference-counted: the server
 * swaps its pointer under a mutex and whoever drops the last reference
 * frees it, so the main loop never waits for a request.
 */
#ifndef YW_HTTP_LIVE_H
#define YW_HTTP_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"

/* Modbus work of one bus since the daemon started. */
struct http_modbus {
	int64_t polls_ok, polls_failed;
	int64_t timeout, exception, crc, gateway, other;   /* failed requests by kind */
};

/* The counters of every bus seen so far, by bus id (main loop only). */
struct http_counts {
	struct http_counts_bus {
		char id[YW_ID_MAX];
		struct http_modbus n;
	} *bus;
	size_t n;
};

struct http_uplink {
	char id[YW_ID_MAX];
	bool connected;
	int64_t outbox_depth;       /* unsent rows, held events included */
};

struct http_bus {
	char id[YW_ID_MAX];
	bool polled;                /* a worker runs it */
	struct http_modbus n;
};

struct http_live {
	atomic_int refs;
	int64_t taken_ms;           /* wall clock */
	int64_t started_ms;         /* the daemon's start, wall clock */
	bool clock_set;             /* stamps come from a set clock */
	struct http_uplink *uplinks;
	size_t nuplinks;
	struct http_bus *buses;     /* the config's, in order */
	size_t nbuses;
};

struct http_view_dev {
	char id[YW_ID_MAX];
	char location[YW_TEXT_MAX];
	enum yw_category category;
	enum yw_severity offline_severity;
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
	struct http_view_dev *devs;
	size_t ndevs;
	struct http_view_alarm *alarms;
	size_t nalarms;
};

/* Count R (a poll result) for its bus in CFG (the config R's worker ran). */
void http_counts_add(struct http_counts *c, const struct config *cfg, const struct bus_result *r);
void http_counts_free(struct http_counts *c);

/* A snapshot with CFG's buses and their counters in C (one reference);
 * gateway_live() fills the rest. NULL when out of memory. */
struct http_live *http_live_new(const struct config *cfg, const struct http_counts *c);
/* Add an uplink to L; -1 when out of memory. */
int http_live_uplink(struct http_live *l, const char *id, bool connected, int64_t depth);
struct http_live *http_live_ref(struct http_live *l);
void http_live_unref(struct http_live *l);

/* The view of CFG (one reference); NULL when out of memory. */
struct http_view *http_view_new(const struct config *cfg);
struct http_view *http_view_ref(struct http_view *v);
void http_view_unref(struct http_view *v);
/* The device or alarm of V by id; NULL when absent. */
const struct http_view_dev *http_view_dev(const struct http_view *v, const char *id);
const struct http_view_alarm *http_view_alarm(const struct http_view *v, const char *id);

#endif
