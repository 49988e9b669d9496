/*
 * bus: one worker thread per bus. The worker owns the bus's driver, its own
 * copy of the bus's config (the bus and its devices: it never reads the
 * gateway's config after bus_start, so a worker can outlive a reload), the
 * read plans of the bus's devices and their schedule; it polls each enabled
 * device at its poll_ms on the monotonic clock, one request at a time, backs
 * off a device that stops answering (capped exponential up to 30 s, reset on
 * success), decodes the registers with the codec and hands a `bus_result`
 * per poll to the main loop through a shared queue (`struct bus_queue`)
 * whose eventfd wakes the loop. Write/read commands from the main loop go the
 * other way: at most BUS_CMD_QUEUE_MAX wait per bus, and they run between
 * polls, never more than one between two polls that are due.
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

/* Commands waiting for one bus at most; more are refused (busy). */
#define BUS_CMD_QUEUE_MAX 16

/* Who asked for a command: its result goes back there. */
#define BUS_ORIGIN_MQTT 0u             /* the mqtt link: P/cmd/result */
#define BUS_ORIGIN_CTL 0x80000000u     /* | a control-socket client's token */

/* Registers (or bits) a raw read may ask for: the Modbus limit of bits. */
#define BUS_RAW_MAX 2000

/* A command from the main loop: read or write one point, or (raw) one
 * Modbus read of the bus for `yardwatch read` / `scan`. */
struct bus_cmd {
	char req_id[YW_TEXT_MAX];   /* the request id ("" when absent) */
	bool req_id_null;           /* the request had no readable id */
	uint32_t origin;            /* BUS_ORIGIN_* */
	char link[YW_ID_MAX];       /* BUS_ORIGIN_MQTT: the link that asked */
	char dev_id[YW_ID_MAX];     /* the device, by id (not for raw) */
	int pt;                     /* index of the point in the device's points */
	bool write;
	double value;               /* engineering value to write */
	/* raw: UNIT's TABLE from START, COUNT registers or bits; answered
	 * within TIMEOUT_MS (0: the bus's timeout and retries; else no retry) */
	bool raw;
	int unit;
	enum yw_table table;
	uint16_t start, count;
	int timeout_ms;
};

struct bus_result {
	enum bus_result_kind kind;
	struct bus_result *next;    /* queue link */
	int dev;                    /* device index in the config the worker was
	                               started with (bus_start) */
	char dev_id[YW_ID_MAX];     /* the device's id: the key across reloads */
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
	/* a raw read: its driver status and exception code, and (DRV_OK) the
	 * registers or bits read, cmd.count of them */
	enum drv_status raw_status;
	int raw_exc;
	uint16_t *raw;              /* owned */
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

/* Start the worker of CFG->buses[BUS]: it copies what it needs of CFG. */
struct bus_worker *bus_start(const struct config *cfg, int bus, struct bus_queue *q);

/* W runs exactly what CFG says for CFG->buses[BUS]: the bus's settings and
 * all of its devices (enabled or not, in order) with their points are the
 * same, so W can go on polling under CFG. */
bool bus_runs(const struct bus_worker *w, const struct config *cfg, int bus);
/* W talks over the same serial line or TCP endpoint as CFG->buses[BUS]
 * (a replacement must wait until W has closed it). */
bool bus_same_line(const struct bus_worker *w, const struct config *cfg, int bus);
const char *bus_id(const struct bus_worker *w);

/* Queue a command for the worker (copied). */
enum bus_submit_rc {
	BUS_SUBMIT_OK = 0,
	BUS_SUBMIT_REFUSED = -1,    /* no such device or point on this bus, a raw
	                               read out of the Modbus limits, or stopping */
	BUS_SUBMIT_BUSY = -2,       /* BUS_CMD_QUEUE_MAX commands wait already */
	BUS_SUBMIT_OFFLINE = -3,    /* the device is offline (backing off) */
};
enum bus_submit_rc bus_submit(struct bus_worker *w, const struct bus_cmd *cmd);

/* Stopping, in parallel: bus_stop_ask() every worker (returns at once; no
 * result of the worker reaches the queue after it, and a blocked request is
 * interrupted: TCP at once, RTU within one timeout), then bus_stop_wait()
 * each with the time left: true when it finished (joined and freed), false
 * when it is still running after TIMEOUT_MS (0: just look). A worker that
 * never finishes can be left behind with bus_detach() (it frees itself);
 * only at exit: until it finishes it holds its line. */
void bus_stop_ask(struct bus_worker *w);
bool bus_stop_wait(struct bus_worker *w, int timeout_ms);
void bus_detach(struct bus_worker *w);
/* All three for one worker: ask, wait at most TIMEOUT_MS, detach. */
void bus_stop(struct bus_worker *w, int timeout_ms);

#endif
