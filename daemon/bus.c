/*
 * bus: the worker thread of one bus (see bus.h).
 *
 * Threads and ownership. The worker owns its driver, the plans and schedule
 * of its devices and its scratch buffers. The main thread touches a worker
 * only through bus_submit() and bus_stop(), which take `mu`; results travel
 * through the bus_queue, which has its own mutex. Lock order: worker mu, then
 * queue mu. The config is read-only for everyone while the worker runs.
 *
 * Stopping. bus_stop() sets the stop flag under `mu`, wakes the worker and
 * aborts the driver (a blocked TCP request returns at once; RTU waits out at
 * most one timeout). A worker that does not stop in time is detached; when
 * it finally wakes it sees the flag, touches neither the config nor the
 * queue again (a result is only pushed under `mu` while no stop was asked),
 * and frees itself.
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
	int dev;                     /* index into cfg->devices */
	struct plan_device pd;       /* the planner's view of the device */
	struct plan plan;            /* kept for the device's life: splits are remembered */
	int64_t next_due;            /* monotonic ms */
	int failures;                /* failed polls in a row */
	uint8_t *refused_logged;     /* per point: a refusal was logged (until it reads again) */
};

/* Per point state during one poll. */
enum { PT_NONE = 0, PT_HAVE = 1, PT_REFUSED = 2 };

struct bus_worker {
	const struct config *cfg;
	int bus;
	char id[YW_ID_MAX];
	struct bus_queue *q;
	struct driver *drv;
	struct bus_dev *devs;        /* owned */
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
	bool stop_req;               /* under mu */
	bool finished, detached;     /* under mu */
	bool sync_ready;             /* mu and cond were initialised */
	atomic_bool stopping;        /* stop_req, readable without mu */
};

/* ---------------------------------------------------------------- queue */

struct bus_queue *bus_queue_new(void)
{
	struct bus_queue *q = calloc(1, sizeof *q);
	if (!q) {
		log_error(BUS_COMP, "out of memory");
		return NULL;
	}
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		log_error(BUS_COMP, "eventfd: %s", strerror(errno));
		goto out_free;
	}
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		log_error(BUS_COMP, "cannot create mutex");
		goto out_close;
	}
	return q;

out_close:
	close(q->efd);
out_free:
	free(q);
	return NULL;
}

void bus_queue_free(struct bus_queue *q)
{
	if (!q)
		return;
	struct bus_result *r = q->head;
	while (r) {
		struct bus_result *next = r->next;
		bus_result_free(r);
		r = next;
	}
	pthread_mutex_destroy(&q->mu);
	close(q->efd);
	free(q);
}

int bus_queue_fd(struct bus_queue *q)
{
	return q->efd;
}

static void bus_queue_push(struct bus_queue *q, struct bus_result *r)
{
	uint64_t one = 1;

	r->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	/* Under the lock, so that "fd readable" and "list not empty" agree. */
	if (write(q->efd, &one, sizeof one) != (ssize_t)sizeof one)
		log_error(BUS_COMP, "eventfd write failed (errno %d)", errno);
	pthread_mutex_unlock(&q->mu);
}

struct bus_result *bus_queue_take(struct bus_queue *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->mu);
	struct bus_result *r = q->head;
	q->head = q->tail = NULL;
	if (read(q->efd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_error(BUS_COMP, "eventfd read failed (errno %d)", errno);
	pthread_mutex_unlock(&q->mu);
	return r;
}

void bus_result_free(struct bus_result *r)
{
	if (!r)
		return;
	free(r->values);
	free(r->quality);
	free(r);
}

static struct bus_result *bus_result_new(enum bus_result_kind kind, int dev, size_t npoints)
{
	struct bus_result *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->kind = kind;
	r->dev = dev;
	r->npoints = npoints;
	r->cmd_value = NAN;
	if (npoints) {
		r->values = calloc(npoints, sizeof *r->values);
		r->quality = calloc(npoints, sizeof *r->quality);
		if (!r->values || !r->quality) {
			bus_result_free(r);
			return NULL;
		}
	}
	return r;
}

/* --------------------------------------------------------------- naming */

/* Error text for a failed request of a command. */
static void bus_drv_error(char *buf, size_t len, const char *what, enum drv_status st, int exc)
{
	switch (st) {
	case DRV_OK:
		snprintf(buf, len, "%s failed", what);
		break;
	case DRV_EXCEPTION:
		snprintf(buf, len, "device refused the %s (exception %d: %s)", what, exc,
			 driver_exception_name(exc));
		break;
	case DRV_TIMEOUT:
		snprintf(buf, len, "device did not answer (timeout)");
		break;
	case DRV_CRC:
		snprintf(buf, len, "device answer was corrupt (CRC or framing error)");
		break;
	case DRV_LINK:
		snprintf(buf, len, "device not reachable (connection failed)");
		break;
	}
}

/* ---------------------------------------------------------------- polls */

/* Index of the request that now starts at plan.order[first] (after a split). */
static size_t bus_find_req(const struct plan *plan, size_t first, size_t fallback)
{
	for (size_t k = 0; k < plan->nreqs; k++)
		if (plan->reqs[k].first == first)
			return k;
	return fallback;
}

static void bus_take_regs(struct bus_worker *w, const struct device_cfg *dev,
			  const struct plan *plan, const struct read_req *rq)
{
	for (size_t j = rq->first; j < rq->first + rq->npts; j++) {
		size_t i = plan->order[j];
		const struct point_cfg *p = &dev->points[i];
		int width = codec_width(p);
		long off = (long)p->address - (long)rq->start;

		if (width < 1 || width > 4 || off < 0 || off + width > rq->count) {
			w->pstate[i] = PT_REFUSED;   /* not covered: a planner bug, never a guess */
			continue;
		}
		memcpy(w->raw[i], &w->regs[off], (size_t)width * sizeof(uint16_t));
		w->pstate[i] = PT_HAVE;
	}
}

static void bus_refuse(struct bus_worker *w, struct bus_dev *bd, const struct device_cfg *dev,
		       const struct read_req *rq, int exc)
{
	bool logged = true;

	for (size_t j = rq->first; j < rq->first + rq->npts; j++) {
		size_t i = bd->plan.order[j];
		w->pstate[i] = PT_REFUSED;
		if (!bd->refused_logged[i])
			logged = false;
		bd->refused_logged[i] = 1;
	}
	if (logged)
		return;
	size_t i0 = bd->plan.order[rq->first];
	if (rq->npts == 1)
		log_warn(BUS_COMP, "device %s (unit %d): point %s (%s %u) refused: exception %d (%s)",
			 dev->id, dev->unit, dev->points[i0].name, point_table_name(rq->table),
			 (unsigned)rq->start, exc, driver_exception_name(exc));
	else
		log_warn(BUS_COMP, "device %s (unit %d): %s %u..%u (%zu points) refused: "
			 "exception %d (%s)", dev->id, dev->unit, point_table_name(rq->table),
			 (unsigned)rq->start, (unsigned)(rq->start + rq->count - 1), rq->npts, exc,
			 driver_exception_name(exc));
}

/* Decode point I of a completed poll into R, its decimals_from point first. */
static void bus_decode(struct bus_worker *w, const struct device_cfg *dev, size_t i,
		       struct bus_result *r)
{
	const struct point_cfg *p = &dev->points[i];
	int decimals = 0;
	double v;

	if (w->dstate[i] == 2)
		return;
	r->values[i] = 0;
	r->quality[i] = Q_BAD;
	if (w->dstate[i] == 1)        /* a decimals_from cycle: config should refuse it */
		goto out_done;
	w->dstate[i] = 1;
	if (w->pstate[i] != PT_HAVE)
		goto out_done;
	if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE) {
		r->values[i] = codec_decode_bit(w->raw[i][0] ? 1 : 0);
		r->quality[i] = Q_GOOD;
		goto out_done;
	}
	if (p->decimals_from >= 0) {
		size_t ref = (size_t)p->decimals_from;
		if (ref >= dev->npoints)
			goto out_done;
		bus_decode(w, dev, ref, r);
		double d = r->values[ref];
		if (r->quality[ref] != Q_GOOD || d != floor(d) || d < 0 || d > 9)
			goto out_done;
		decimals = (int)d;
	}
	if (codec_decode(p, w->raw[i], decimals, &v) == CODEC_OK) {
		r->values[i] = v;
		r->quality[i] = Q_GOOD;
	}
out_done:
	w->dstate[i] = 2;
}

static int64_t bus_backoff_ms(int poll_ms, int failures)
{
	int64_t delay = poll_ms;
	for (int k = 1; k < failures && delay < BUS_BACKOFF_MAX_MS; k++)
		delay *= 2;
	return delay < BUS_BACKOFF_MAX_MS ? delay : BUS_BACKOFF_MAX_MS;
}

static void bus_schedule(struct bus_dev *bd, const struct device_cfg *dev, bool ok)
{
	int64_t now = util_mono_ms();

	if (ok) {
		bd->failures = 0;
		bd->next_due += dev->poll_ms;
		if (bd->next_due < now)
			bd->next_due = now + dev->poll_ms;
		return;
	}
	bd->failures++;
	bd->next_due = now + bus_backoff_ms(dev->poll_ms, bd->failures);
}

/*
 * Poll BD once. Returns the result, or NULL when the worker is stopping (the
 * config is not touched after that) or memory ran out (logged).
 */
static struct bus_result *bus_poll(struct bus_worker *w, struct bus_dev *bd)
{
	const struct device_cfg *dev = &w->cfg->devices[bd->dev];
	struct bus_result *r = bus_result_new(BUS_RES_POLL, bd->dev, dev->npoints);
	enum drv_status fail = DRV_OK;

	if (!r) {
		log_error(BUS_COMP, "device %s: out of memory", dev->id);
		bus_schedule(bd, dev, true);
		return NULL;
	}
	memset(w->pstate, PT_NONE, dev->npoints);
	for (size_t k = 0; k < bd->plan.nreqs;) {
		const struct read_req *rq = &bd->plan.reqs[k];
		int exc = 0;
		enum drv_status st = driver_read(w->drv, dev->unit, rq->table, rq->start, rq->count,
						 w->regs, &exc);
		if (atomic_load(&w->stopping)) {
			bus_result_free(r);
			return NULL;
		}
		if (st == DRV_OK) {
			bus_take_regs(w, dev, &bd->plan, rq);
			k++;
			continue;
		}
		if (st != DRV_EXCEPTION) {
			fail = st;
			break;
		}
		r->exceptions++;
		if (exc == 2 && rq->npts > 1) {
			struct read_req old = *rq;
			int s = planner_split(&bd->pd, &bd->plan, k);
			if (s == 1) {
				k = bus_find_req(&bd->plan, old.first, k);
				const struct read_req *a = &bd->plan.reqs[k];
				const struct read_req *b = k + 1 < bd->plan.nreqs ? a + 1 : a;
				log_info(BUS_COMP, "device %s (unit %d): %s %u..%u: illegal data address; "
					 "reading it as %u..%u and %u..%u from now on", dev->id,
					 dev->unit, point_table_name(old.table), (unsigned)old.start,
					 (unsigned)(old.start + old.count - 1), (unsigned)a->start,
					 (unsigned)(a->start + a->count - 1), (unsigned)b->start,
					 (unsigned)(b->start + b->count - 1));
				continue;
			}
			if (s < 0)
				log_error(BUS_COMP, "device %s: out of memory splitting a request",
					  dev->id);
		}
		bus_refuse(w, bd, dev, rq, exc);
		k++;
	}

	if (fail == DRV_OK) {
		memset(w->dstate, 0, dev->npoints);
		for (size_t i = 0; i < dev->npoints; i++) {
			bus_decode(w, dev, i, r);
			if (w->pstate[i] == PT_HAVE)
				bd->refused_logged[i] = 0;
		}
		r->ok = true;
		if (bd->failures > 0)
			log_info(BUS_COMP, "device %s (unit %d): answering again after %d failed poll%s",
				 dev->id, dev->unit, bd->failures, bd->failures == 1 ? "" : "s");
	} else {
		for (size_t i = 0; i < dev->npoints; i++)
			r->quality[i] = Q_STALE;
		switch (fail) {
		case DRV_TIMEOUT: r->timeouts++; break;
		case DRV_CRC: r->crc++; break;
		default: r->other++; break;
		}
		if (bd->failures == 0)
			log_warn(BUS_COMP, "device %s (unit %d): poll failed (%s); backing off",
				 dev->id, dev->unit, driver_status_name(fail));
	}
	bus_schedule(bd, dev, fail == DRV_OK);
	r->consecutive_failures = bd->failures;
	r->ts_ms = util_wall_ms();
	/* Nothing to re-read after a reconnect (driver_reconnected()): the
	 * decimals_from registers are read on every poll. The driver logs it. */
	return r;
}

/* ------------------------------------------------------------- commands */

static int bus_read_point(struct bus_worker *w, const struct device_cfg *dev, int pt, int depth,
			  double *v, char *err, size_t errlen);

/*
 * The decimals point P is scaled by: the value of its decimals_from point,
 * read from the device now (0 when it has none). 0, -1 with ERR filled, 1
 * when the worker is stopping.
 */
static int bus_cmd_decimals(struct bus_worker *w, const struct device_cfg *dev,
			    const struct point_cfg *p, int depth, int *decimals, char *err,
			    size_t errlen)
{
	double d;

	*decimals = 0;
	if (p->decimals_from < 0 || p->table == TABLE_COIL || p->table == TABLE_DISCRETE)
		return 0;
	if (depth >= BUS_DECIMALS_DEPTH || (size_t)p->decimals_from >= dev->npoints) {
		snprintf(err, errlen, "decimals_from of %s cannot be resolved", p->name);
		return -1;
	}
	int rc = bus_read_point(w, dev, p->decimals_from, depth + 1, &d, err, errlen);
	if (rc != 0)
		return rc;
	if (d != floor(d) || d < 0 || d > 9) {
		snprintf(err, errlen, "decimals point %s holds %g, not 0..9",
			 dev->points[p->decimals_from].name, d);
		return -1;
	}
	*decimals = (int)d;
	return 0;
}

/*
 * Read point PT of DEV (its decimals_from point first) into *V.
 * 0, or -1 with ERR filled; 1 when the worker is stopping.
 */
static int bus_read_point(struct bus_worker *w, const struct device_cfg *dev, int pt, int depth,
			  double *v, char *err, size_t errlen)
{
	const struct point_cfg *p = &dev->points[pt];
	uint16_t regs[4] = { 0 };
	int decimals, exc = 0;
	int rc = bus_cmd_decimals(w, dev, p, depth, &decimals, err, errlen);

	if (rc != 0)
		return rc;
	int width = codec_width(p);
	if (width < 1 || width > 4) {
		snprintf(err, errlen, "point %s has no valid register width", p->name);
		return -1;
	}
	enum drv_status st = driver_read(w->drv, dev->unit, p->table, p->address,
					 (uint16_t)width, regs, &exc);
	if (atomic_load(&w->stopping))
		return 1;
	if (st != DRV_OK) {
		bus_drv_error(err, errlen, "read", st, exc);
		return -1;
	}
	if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE) {
		*v = codec_decode_bit(regs[0] ? 1 : 0);
	} else if (codec_decode(p, regs, decimals, v) != CODEC_OK) {
		snprintf(err, errlen, "device returned an undecodable value for %s", p->name);
		return -1;
	}
	return 0;
}

/* How far a read back may be from the written value: half a raw step for
 * integers (the encoder rounds to the nearest), the float's precision. */
static double bus_tolerance(const struct point_cfg *p, int decimals, double value)
{
	double step = fabs(p->scale) / pow(10, decimals);
	double mag = fabs(value) + fabs(p->offset);

	if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE || p->type == TYPE_BOOL)
		return 0.5;
	switch (p->type) {
	case TYPE_FLOAT32:
		return mag * 4 * FLT_EPSILON;
	case TYPE_FLOAT64:
		return mag * 4 * DBL_EPSILON;
	default:
		return step / 2 + mag * 1e-12;
	}
}

/* Write C->value to the point and read it back. 1 when stopping. */
static int bus_write_point(struct bus_worker *w, const struct device_cfg *dev,
			   const struct bus_cmd *c, struct bus_result *r)
{
	const struct point_cfg *p = &dev->points[c->pt];
	uint16_t regs[4] = { 0 };
	int decimals = 0, exc = 0, rc;
	double lo, hi, back;

	if (!p->writable || (p->table != TABLE_COIL && p->table != TABLE_HOLDING)) {
		snprintf(r->error, sizeof r->error, "point %s.%s is not writable", dev->id, p->name);
		return -1;
	}
	if (!isfinite(c->value)) {
		snprintf(r->error, sizeof r->error, "value out of range for %s",
			 point_type_name(p->type));
		return -1;
	}
	if ((p->has_min && c->value < p->min) || (p->has_max && c->value > p->max)) {
		snprintf(r->error, sizeof r->error, "value out of range (%g..%g)",
			 p->has_min ? p->min : -INFINITY, p->has_max ? p->max : INFINITY);
		return -1;
	}
	rc = bus_cmd_decimals(w, dev, p, 0, &decimals, r->error, sizeof r->error);
	if (rc != 0)
		return rc;
	codec_range(p, decimals, &lo, &hi);
	if (c->value < lo || c->value > hi) {
		snprintf(r->error, sizeof r->error, "value out of range for %s",
			 point_type_name(p->type));
		return -1;
	}
	int width = codec_width(p);
	if (width < 1 || width > 4) {
		snprintf(r->error, sizeof r->error, "point %s has no valid register width", p->name);
		return -1;
	}
	if (p->table == TABLE_HOLDING && p->bit >= 0) {
		/* one bit of a register: read, modify, write */
		enum drv_status st = driver_read(w->drv, dev->unit, TABLE_HOLDING, p->address, 1,
						 regs, &exc);
		if (atomic_load(&w->stopping))
			return 1;
		if (st != DRV_OK) {
			bus_drv_error(r->error, sizeof r->error, "read", st, exc);
			return -1;
		}
	}
	if (codec_encode(p, c->value, decimals, regs) != CODEC_OK) {
		snprintf(r->error, sizeof r->error, "value not representable as %s%s",
			 point_type_name(p->type),
			 p->type == TYPE_BOOL ? " (0 or 1)" : " at the point's resolution");
		return -1;
	}
	if (p->table == TABLE_COIL)
		regs[0] = regs[0] ? 1 : 0;
	enum drv_status st = driver_write(w->drv, dev->unit, p->table, p->address,
					  (uint16_t)width, regs, &exc);
	if (atomic_load(&w->stopping))
		return 1;
	if (st != DRV_OK) {
		bus_drv_error(r->error, sizeof r->error, "write", st, exc);
		return -1;
	}
	char err[YW_TEXT_MAX];
	rc = bus_read_point(w, dev, c->pt, 0, &back, err, sizeof err);
	if (rc == 1)
		return 1;
	if (rc != 0) {
		snprintf(r->error, sizeof r->error, "written, but the read back failed: %.200s", err);
		return -1;
	}
	r->cmd_value = back;
	r->cmd_has_value = true;
	if (fabs(back - c->value) > bus_tolerance(p, decimals, c->value)) {
		snprintf(r->error, sizeof r->error, "read back %.10g after writing %.10g", back,
			 c->value);
		return -1;
	}
	return 0;
}

/* Run command C; the result, or NULL when stopping / out of memory. */
static struct bus_result *bus_run_cmd(struct bus_worker *w, const struct bus_cmd *c)
{
	const struct device_cfg *dev = &w->cfg->devices[c->dev];
	struct bus_result *r = bus_result_new(BUS_RES_CMD, c->dev, 0);
	int rc;

	if (!r) {
		log_error(BUS_COMP, "device %s: out of memory", dev->id);
		return NULL;
	}
	r->cmd = *c;
	if (!dev->enabled) {
		snprintf(r->error, sizeof r->error, "device %s is disabled", dev->id);
		rc = -1;
	} else if (c->write) {
		rc = bus_write_point(w, dev, c, r);
	} else {
		double v;
		rc = bus_read_point(w, dev, c->pt, 0, &v, r->error, sizeof r->error);
		if (rc == 0) {
			r->cmd_value = v;
			r->cmd_has_value = true;
		}
	}
	if (rc == 1) {
		bus_result_free(r);
		return NULL;
	}
	r->cmd_ok = rc == 0;
	if (r->cmd_ok)
		r->error[0] = '\0';
	r->ts_ms = util_wall_ms();
	return r;
}

/* --------------------------------------------------------------- worker */

static void bus_worker_free(struct bus_worker *w)
{
	struct bus_cmd_node *n = w->cmd_head;
	while (n) {
		struct bus_cmd_node *next = n->next;
		free(n);
		n = next;
	}
	for (size_t i = 0; i < w->ndevs; i++) {
		planner_free(&w->devs[i].plan);
		free(w->devs[i].refused_logged);
	}
	free(w->devs);
	free(w->raw);
	free(w->pstate);
	free(w->dstate);
	driver_free(w->drv);
	if (w->sync_ready) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
	}
	free(w);
}

/* Hand R to the main loop unless a stop was asked (then the queue may be gone). */
static void bus_deliver(struct bus_worker *w, struct bus_result *r)
{
	pthread_mutex_lock(&w->mu);
	if (!w->stop_req) {
		bus_queue_push(w->q, r);
		r = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	bus_result_free(r);
}

static struct bus_dev *bus_next_device(struct bus_worker *w)
{
	struct bus_dev *best = NULL;
	for (size_t i = 0; i < w->ndevs; i++)
		if (!best || w->devs[i].next_due < best->next_due)
			best = &w->devs[i];
	return best;
}

static void *bus_main(void *arg)
{
	struct bus_worker *w = arg;
	int64_t start = util_mono_ms();

	for (size_t i = 0; i < w->ndevs; i++)
		w->devs[i].next_due = start;

	pthread_mutex_lock(&w->mu);
	while (!w->stop_req) {
		struct bus_cmd_node *n = w->cmd_head;
		if (n) {
			w->cmd_head = n->next;
			if (!w->cmd_head)
				w->cmd_tail = NULL;
			pthread_mutex_unlock(&w->mu);
			struct bus_result *r = bus_run_cmd(w, &n->cmd);
			free(n);
			if (r)
				bus_deliver(w, r);
			pthread_mutex_lock(&w->mu);
			continue;
		}
		struct bus_dev *bd = bus_next_device(w);
		if (!bd) {
			pthread_cond_wait(&w->cond, &w->mu);
			continue;
		}
		if (bd->next_due > util_mono_ms()) {
			struct timespec ts = {
				.tv_sec = (time_t)(bd->next_due / 1000),
				.tv_nsec = (long)(bd->next_due % 1000) * 1000000L,
			};
			pthread_cond_timedwait(&w->cond, &w->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&w->mu);
		struct bus_result *r = bus_poll(w, bd);
		if (r)
			bus_deliver(w, r);
		pthread_mutex_lock(&w->mu);
	}
	w->finished = true;
	pthread_cond_broadcast(&w->cond);   /* bus_stop() waits for this */
	bool detached = w->detached;
	pthread_mutex_unlock(&w->mu);
	if (detached)
		bus_worker_free(w);
	return NULL;
}

static int bus_setup_devices(struct bus_worker *w)
{
	const struct config *cfg = w->cfg;
	size_t n = 0, maxpts = 1;

	for (size_t i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].bus == w->bus && cfg->devices[i].enabled)
			n++;
	w->devs = calloc(n ? n : 1, sizeof *w->devs);
	if (!w->devs)
		goto out_oom;
	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_cfg *dev = &cfg->devices[i];
		if (dev->bus != w->bus || !dev->enabled)
			continue;
		struct bus_dev *bd = &w->devs[w->ndevs];
		bd->dev = (int)i;
		bd->refused_logged = calloc(dev->npoints ? dev->npoints : 1, 1);
		if (!bd->refused_logged)
			goto out_oom;
		bd->pd.points = dev->points;
		bd->pd.npoints = dev->npoints;
		bd->pd.max_read_regs = dev->max_read_regs;
		bd->pd.max_gap = dev->max_gap;
		if (planner_build(&bd->pd, &bd->plan) != 0) {
			free(bd->refused_logged);
			goto out_oom;
		}
		w->ndevs++;
		if (dev->npoints > maxpts)
			maxpts = dev->npoints;
	}
	w->raw = calloc(maxpts, sizeof *w->raw);
	w->pstate = calloc(maxpts, 1);
	w->dstate = calloc(maxpts, 1);
	if (!w->raw || !w->pstate || !w->dstate)
		goto out_oom;
	return 0;

out_oom:
	log_error(BUS_COMP, "bus %s: out of memory", w->id);
	return -1;
}

/* The driver's log lines go to the daemon's log. */
static void bus_drv_log(int level, const char *comp, const char *msg)
{
	switch (level) {
	case 0: log_error(comp, "%s", msg); break;
	case 1: log_warn(comp, "%s", msg); break;
	case 2: log_info(comp, "%s", msg); break;
	default: log_debug(comp, "%s", msg); break;
	}
}

/* The driver's settings from the bus's config. */
void bus_driver_settings(const struct bus_cfg *b, struct drv_settings *s)
{
	memset(s, 0, sizeof *s);
	util_strlcpy(s->id, b->id, sizeof s->id);
	s->type = b->type == BUS_RTU ? DRV_BUS_RTU : DRV_BUS_TCP;
	util_strlcpy(s->device, b->device, sizeof s->device);
	s->baud = b->baud;
	s->parity = b->parity;
	s->data_bits = b->data_bits;
	s->stop_bits = b->stop_bits;
	s->rs485 = b->rs485;
	s->inter_frame_delay_ms = b->inter_frame_delay_ms;
	util_strlcpy(s->host, b->host, sizeof s->host);
	s->port = b->port;
	s->timeout_ms = b->timeout_ms;
	s->retries = b->retries;
}

struct bus_worker *bus_start(const struct config *cfg, int bus, struct bus_queue *q)
{
	struct drv_settings ds;
	struct bus_worker *w;
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	if (bus < 0 || (size_t)bus >= cfg->nbuses || !q)
		return NULL;
	w = calloc(1, sizeof *w);
	if (!w) {
		log_error(BUS_COMP, "bus %s: out of memory", cfg->buses[bus].id);
		return NULL;
	}
	w->cfg = cfg;
	w->bus = bus;
	w->q = q;
	util_strlcpy(w->id, cfg->buses[bus].id, sizeof w->id);
	atomic_init(&w->stopping, false);
	if (bus_setup_devices(w) != 0)
		goto out_free;
	driver_set_log(bus_drv_log, LOG_LVL_DEBUG);
	bus_driver_settings(&cfg->buses[bus], &ds);
	w->drv = driver_new(&ds);
	if (!w->drv)
		goto out_free;
	rc = pthread_condattr_init(&ca);
	if (rc != 0)
		goto out_sync;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		goto out_sync;
	rc = pthread_mutex_init(&w->mu, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->cond);
		goto out_sync;
	}
	w->sync_ready = true;

	/* The worker takes no signals: they belong to the main loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->th, NULL, bus_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error(BUS_COMP, "bus %s: cannot start thread: %s", w->id, strerror(rc));
		goto out_free;
	}
	log_info(BUS_COMP, "bus %s: polling %zu device%s", w->id, w->ndevs,
		 w->ndevs == 1 ? "" : "s");
	return w;

out_sync:
	log_error(BUS_COMP, "bus %s: cannot create thread state: %s", w->id, strerror(rc));
out_free:
	bus_worker_free(w);
	return NULL;
}

int bus_submit(struct bus_worker *w, const struct bus_cmd *cmd)
{
	const struct config *cfg = w->cfg;

	if (cmd->dev < 0 || (size_t)cmd->dev >= cfg->ndevices ||
	    cfg->devices[cmd->dev].bus != w->bus || cmd->pt < 0 ||
	    (size_t)cmd->pt >= cfg->devices[cmd->dev].npoints)
		return -1;
	struct bus_cmd_node *n = calloc(1, sizeof *n);
	if (!n) {
		log_error(BUS_COMP, "bus %s: out of memory", w->id);
		return -1;
	}
	n->cmd = *cmd;
	pthread_mutex_lock(&w->mu);
	if (w->stop_req) {
		pthread_mutex_unlock(&w->mu);
		free(n);
		return -1;
	}
	if (w->cmd_tail)
		w->cmd_tail->next = n;
	else
		w->cmd_head = n;
	w->cmd_tail = n;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void bus_stop(struct bus_worker *w, int timeout_ms)
{
	struct timespec dl;

	if (!w)
		return;
	if (timeout_ms < 0)
		timeout_ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	w->stop_req = true;
	atomic_store(&w->stopping, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	driver_abort(w->drv);

	/* Wait on the worker's cond (monotonic) rather than with
	 * pthread_timedjoin_np(), whose deadline is on the wall clock. */
	pthread_mutex_lock(&w->mu);
	while (!w->finished)
		if (pthread_cond_timedwait(&w->cond, &w->mu, &dl) == ETIMEDOUT)
			break;
	if (w->finished) {
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		bus_worker_free(w);
		return;
	}
	log_warn(BUS_COMP, "bus %s: worker did not stop within %d ms; leaving it behind", w->id,
		 timeout_ms);
	w->detached = true;
	pthread_detach(w->th);
	pthread_mutex_unlock(&w->mu);   /* from here on the worker frees itself */
}
