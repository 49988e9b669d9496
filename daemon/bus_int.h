/*
 * bus_int: what the files of the bus worker share (private). The worker is:
 *   bus.c       the result queue, the worker thread, start, submit, stop
 *   bus_poll.c  one poll of a device: the plan's requests, splits, decoding,
 *               backoff
 *   bus_cmd.c   the commands of the main loop: read or write one point
 * (see bus.h).
 *
 * Threads and ownership. The worker owns its driver, its copy of the bus's
 * config (struct bus_cfg and one struct device_cfg per device of the bus,
 * points included: the gateway's config may be freed by a reload while the
 * worker runs on), the plans and schedule of its devices and its scratch
 * buffers. The copy is written before the thread starts and never changes,
 * so the main thread reads it too (bus_runs, bus_submit). The main thread
 * touches the rest of a worker only through bus_submit() and bus_stop_*(),
 * which take `mu`; results travel through the bus_queue, which has its own
 * mutex. Lock order: worker mu, then queue mu. A result names its device by
 * id (and by its index in the config of bus_start, a hint): a worker kept
 * over a reload serves a config whose indices may differ.
 *
 * Stopping. bus_stop_ask() sets the stop flag under `mu`, wakes the worker
 * and aborts the driver (a blocked TCP or rtu-tcp request returns at once;
 * RTU waits out at most one timeout); bus_stop_wait() waits for `finished` on the worker's
 * monotonic cond, then joins. A worker left behind (bus_detach, at exit only)
 * sees the flag when it wakes, never touches the queue again (a result is
 * only pushed under `mu` while no stop was asked), and frees itself.
 *
 * Commands. At most BUS_CMD_QUEUE_MAX wait (`ncmds`, under mu); more are
 * refused at once (busy), as is a command for a device that is offline
 * (`offline`: failed polls in a row >= offline_after, the gateway's rule):
 * its answer would be a timeout per request, paid by every device of the
 * bus. A command queued before its device went offline is refused when its
 * turn comes, without I/O. Commands and polls interleave (bus_main): at most
 * one command runs between two polls that compete with commands, so polling
 * keeps its rate under a burst of commands (a command still waits at most
 * one poll).
 *
 * Polls. A device's plan is run one request at a time. An "illegal data
 * address" answer to a request of several points splits that request (the
 * plan remembers it) and both halves are read at once, in the same poll. A
 * link failure (timeout, CRC, socket) ends the poll: the remaining requests
 * would most likely fail the same way and cost a timeout each. A failed poll
 * carries no readings: all its points are Q_STALE; the main loop decides when
 * the device counts as offline. Points refused by an exception are Q_BAD, and
 * the poll is ok (the link worked).
 *
 * Schedule. next_due advances by poll_ms on the monotonic clock; a device
 * that fell behind by more than a period restarts from now (no catch-up
 * burst). After a failed poll the next try is min(poll_ms * 2^(failures-1),
 * 30 s) away: never sooner than poll_ms for poll_ms <= 30 s, and an
 * unreachable device is retried at least every 30 s (SPEC) even when its
 * poll_ms is longer. A dead device thus costs its bus one timeout (times the
 * bus's tries) per backoff period while the others keep their rate.
 */
#ifndef YW_BUS_INT_H
#define YW_BUS_INT_H

#include "bus.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../drivers/codec.h"
#include "../drivers/driver.h"
#include "../drivers/planner.h"
#include "log.h"
#define BUS_COMP "bus"
#define BUS_BACKOFF_MAX_MS 30000
#define BUS_DECIMALS_DEPTH 4         /* decimals_from chains followed by a command */

struct bus_queue {
	pthread_mutex_t mu;
	struct bus_result *head, *tail;
	int efd;
};

struct bus_cmd_node {
	struct bus_cmd cmd;
	struct bus_cmd_node *next;
};

struct bus_dev {
	int dev;                     /* index into the config of bus_start */
	struct device_cfg cfg;       /* the worker's copy; cfg.points owned */
	struct plan_device pd;       /* the planner's view of the device */
	struct plan plan;            /* kept for the device's life: splits are remembered */
	int64_t next_due;            /* monotonic ms */
	int failures;                /* failed polls in a row */
	atomic_bool offline;         /* failures >= cfg.offline_after */
	uint8_t *refused_logged;     /* per point: a refusal was logged (until it reads again) */
};

/* Per point state during one poll. */
enum { PT_NONE = 0, PT_HAVE = 1, PT_REFUSED = 2 };

struct bus_worker {
	struct bus_cfg bus;          /* the worker's copy of its bus's settings */
	const char *id;              /* bus.id */
	struct bus_queue *q;
	struct driver *drv;
	struct bus_dev *devs;        /* owned: every device of the bus, config order */
	size_t ndevs;

	/* scratch of the poll, sized for the largest device */
	uint16_t regs[PLANNER_MAX_BITS];
	uint16_t (*raw)[4];          /* owned: per point, its registers */
	uint8_t *pstate;             /* owned: PT_* per point */
	uint8_t *dstate;             /* owned: decode progress per point */

	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cond;         /* on CLOCK_MONOTONIC */
	struct bus_cmd_node *cmd_head, *cmd_tail;   /* owned, under mu */
	size_t ncmds;                /* commands queued, under mu */
	bool stop_req;               /* under mu */
	bool finished, detached;     /* under mu */
	bool sync_ready;             /* mu and cond were initialised */
	atomic_bool stopping;        /* stop_req, readable without mu */
};

/* bus.c */
struct bus_result *bus_result_new(enum bus_result_kind kind, const struct bus_dev *bd,
				  size_t npoints);
struct bus_dev *bus_find_dev(struct bus_worker *w, const char *dev_id);

/* bus_cmd.c */
struct bus_result *bus_run_cmd(struct bus_worker *w, const struct bus_cmd *c);

/* bus_poll.c */
struct bus_result *bus_poll(struct bus_worker *w, struct bus_dev *bd);

#endif
