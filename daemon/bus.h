/*
 * bus: one worker thread per bus. The worker owns the bus's driver, the read
 * plans of the bus's devices and their schedule; it polls each enabled device
 * at its poll_ms on the monotonic clock, one request at a time, backs off a
 * device that stops answering (capped exponential up to 30 s, reset on
 * success), decodes the registers with the codec and hands a `bus_result` per
 * poll to the main loop through a shared queue (`struct bus_queue`) whose
 * eventfd wakes the loop. Write/read commands from the main loop go the other
 * way and run between polls.
 */
#ifndef YW_BUS_H
#define YW_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "util.h"
#include "../drivers/driver.h"

enum bus_result_kind { BUS_RES_POLL, BUS_RES_CMD };

/* A command from the main loop: read or write one point. */
struct bus_cmd {
	char req_id[YW_TEXT_MAX];   /* the MQTT request id ("" when absent) */
	bool req_id_null;           /* the request had no readable id */
	int dev, pt;                /* indices into the config */
	bool write;
	double value;               /* engineering value to write */
};

struct bus_result {
	enum bus_result_kind kind;
	struct bus_result *next;    /* queue link */
	int dev;                    /* device index */
	int64_t ts_ms;              /* wall clock at the end of the poll */
	/* BUS_RES_POLL. A failed poll (!ok) carries no readings: every point is
	 * Q_STALE. In an ok poll a point is Q_GOOD, or Q_BAD when the device
	 * refused it (exception) or it did not decode; values[i] is 0 unless
	 * Q_GOOD. */
	bool ok;                    /* the link worked (exceptions included) */
	int consecutive_failures;   /* failed polls in a row, 0 after an ok poll */
	int timeouts, exceptions, crc, gateway, other;  /* failed requests by kind
	                            (gateway: exception 10/11, the device behind a
	                            gateway is unreachable: a failed poll) */
	size_t npoints;
	double *values;             /* owned: per point of the device */
	uint8_t *quality;           /* owned: enum yw_quality per point */
	/* BUS_RES_CMD */
	struct bus_cmd cmd;
	bool cmd_ok;
	char error[YW_TEXT_MAX];    /* when !cmd_ok */
	double cmd_value;           /* the value read (back); NAN when none */
	bool cmd_has_value;         /* cmd_value holds a value read from the device
	                               (also for a write whose read back differs) */
};

/* Results from all workers to the main loop. */
struct bus_queue;

struct bus_queue *bus_queue_new(void);          /* NULL on error */
void bus_queue_free(struct bus_queue *q);       /* frees queued results */
int bus_queue_fd(struct bus_queue *q);          /* readable when results wait */
/* Take all queued results (a list linked by ->next, oldest first); NULL when
 * none. Clears the fd's readiness. */
struct bus_result *bus_queue_take(struct bus_queue *q);
void bus_result_free(struct bus_result *r);    /* R only, not R->next */

struct bus_worker;

/* The driver's settings for bus B of the config. */
void bus_driver_settings(const struct bus_cfg *b, struct drv_settings *s);

/* Start the worker of CFG->buses[BUS]. CFG must outlive the worker. */
struct bus_worker *bus_start(const struct config *cfg, int bus, struct bus_queue *q);
/* Queue a command for the worker (copied). 0 / -1. */
int bus_submit(struct bus_worker *w, const struct bus_cmd *cmd);
/* Ask to stop, interrupt a blocked request, join (waiting at most
 * TIMEOUT_MS; a worker stuck longer is detached and its memory left to the
 * process exit), free. */
void bus_stop(struct bus_worker *w, int timeout_ms);

#endif
