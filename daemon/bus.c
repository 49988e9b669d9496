/*
 * bus: the result queue and the worker thread of one bus: start, the loop
 * (commands first, then the device that is due), submit, stop.
 * See bus_int.h.
 */
#include "bus_int.h"

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

struct bus_result *bus_result_new(enum bus_result_kind kind, int dev, size_t npoints)
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
