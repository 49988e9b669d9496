/*
 * main_int: the daemon's state and what main.c and main_links.c share
 * (private to yardwatchd). main.c: argv, start-up order, the poll() loop,
 * signals, reload and teardown; main_links.c: the bus workers and the MQTT
 * links it starts, keeps over a reload and stops.
 */
#ifndef YW_MAIN_INT_H
#define YW_MAIN_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus.h"
#include "config.h"
#include "ctl.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "mqtt.h"
#include "store.h"
#include "util.h"

#define EXIT_USAGE 64
#define EXIT_CONFIG 78
#define STOP_BUDGET_MS 3000   /* SIGTERM to exit: the SPEC allows 5 s */
#define RELOAD_JOIN_MS 250    /* a reload waits this long for stopping workers */
#define RETIRE_TICK_MS 20     /* how often a worker still stopping is looked at */
#define LIVE_MS 1000          /* the status page's live snapshot: once a second */

struct daemon {
	const char *config_path;
	int cli_log_level;          /* -1: from the config */
	struct config *cfg;
	struct store *st;
	struct gateway *gw;
	struct bus_queue *q;
	struct bus_worker **workers;   /* per bus of cfg; NULL: not running */
	bool *waiting;                 /* per bus: starts once its line is free */
	size_t nworkers;
	struct bus_worker **retiring;  /* asked to stop, not finished: each still
	                                  holds its serial line or connection */
	size_t nretiring;
	struct mqtt_link *links[CONFIG_LINKS_MAX];   /* per config_link(); NULL: not running */
	size_t nlinks;
	struct ctl *ctl;            /* the control socket, or NULL */
	struct http *http;          /* the status page, or NULL */
	struct http_counts counts;  /* Modbus work per bus, for the status page */
	int64_t next_live;          /* its next snapshot (monotonic ms) */
	struct stat link_files[CONFIG_LINKS_MAX][3];  /* the TLS files (CA, cert, key) each
	                                                 link was made with */
	int sigfd;
	int64_t watchdog_ms;        /* 0: no watchdog */
	int64_t next_watchdog;
};

/* main_links.c: the bus workers */
void start_bus(struct daemon *dm, size_t b);
int start_workers(struct daemon *dm, struct bus_worker **kept, size_t nkept);
void retire(struct daemon *dm, struct bus_worker *w);
void reap_retiring(struct daemon *dm, int budget_ms);
void stop_workers(struct daemon *dm, int budget_ms);

/* main_links.c: the MQTT links */
bool link_same(const struct daemon *dm, size_t i, const struct config *n,
	       const struct mqtt_cfg *b);
int start_link(struct daemon *dm, size_t i);
int start_links(struct daemon *dm);
void stop_link(struct daemon *dm, size_t i, bool clean);
void stop_links(struct daemon *dm, bool clean);

#endif
