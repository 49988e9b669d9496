/*
 * bus: the result queue and the worker thread of one bus: start (with its
 * own copy of the bus's config), the loop (polls when due, commands between
 * them), submit, stop; whether a worker can go on under a new config.
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
	free(r->raw);
	free(r);
}

struct bus_result *bus_result_new(enum bus_result_kind kind, const struct bus_dev *bd,
				  size_t npoints)
{
	struct bus_result *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->kind = kind;
	r->dev = bd ? bd->dev : -1;
	if (bd)
		util_strlcpy(r->dev_id, bd->cfg.id, sizeof r->dev_id);
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
		free(w->devs[i].cfg.points);
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

/* The enabled device whose poll is due first; NULL when none. */
static struct bus_dev *bus_next_device(struct bus_worker *w)
{
	struct bus_dev *best = NULL;
	for (size_t i = 0; i < w->ndevs; i++)
		if (w->devs[i].cfg.enabled && (!best || w->devs[i].next_due < best->next_due))
			best = &w->devs[i];
	return best;
}

struct bus_dev *bus_find_dev(struct bus_worker *w, const char *dev_id)
{
	for (size_t i = 0; i < w->ndevs; i++)
		if (strcmp(w->devs[i].cfg.id, dev_id) == 0)
			return &w->devs[i];
	return NULL;
}

/* Run one command or one poll with `mu` released; R is delivered. */
static void bus_run_unlocked(struct bus_worker *w, struct bus_cmd_node *n, struct bus_dev *bd)
{
	struct bus_result *r;

	pthread_mutex_unlock(&w->mu);
	if (n) {
		r = bus_run_cmd(w, &n->cmd);
		free(n);
	} else {
		r = bus_poll(w, bd);
	}
	if (r)
		bus_deliver(w, r);
	pthread_mutex_lock(&w->mu);
}

/*
 * The loop: the device that is due is polled; a command runs when no poll
 * falls due before it could end (one request's timeout x tries: the cost of
 * a command for a device that does not answer), or when the last thing run
 * was a poll. So at most one command runs between two polls that compete
 * with commands: a burst of slow commands cannot starve polling (a poll
 * waits at most one command, and polls keep their rate while a command
 * takes less than the poll period), and a command waits at most one poll.
 */
static void *bus_main(void *arg)
{
	struct bus_worker *w = arg;
	int64_t start = util_mono_ms();
	int64_t cmd_cost = (int64_t)w->bus.timeout_ms * (w->bus.retries + 1);
	bool cmd_last = false;

	for (size_t i = 0; i < w->ndevs; i++)
		w->devs[i].next_due = start;

	pthread_mutex_lock(&w->mu);
	while (!w->stop_req) {
		struct bus_dev *bd = bus_next_device(w);
		int64_t now = util_mono_ms();
		struct bus_cmd_node *n = w->cmd_head;
		/* a raw read with its own timeout (a scan's probe) costs that once */
		int64_t cost = n && n->cmd.raw && n->cmd.timeout_ms > 0 ? n->cmd.timeout_ms : cmd_cost;
		bool due = bd && bd->next_due <= now;
		bool due_soon = bd && bd->next_due <= now + cost;

		if (n && (!due_soon || !cmd_last)) {
			w->cmd_head = n->next;
			if (!w->cmd_head)
				w->cmd_tail = NULL;
			w->ncmds--;
			bus_run_unlocked(w, n, NULL);
			cmd_last = true;
			continue;
		}
		if (!bd) {
			pthread_cond_wait(&w->cond, &w->mu);
			continue;
		}
		if (!due) {
			struct timespec ts = {
				.tv_sec = (time_t)(bd->next_due / 1000),
				.tv_nsec = (long)(bd->next_due % 1000) * 1000000L,
			};
			pthread_cond_timedwait(&w->cond, &w->mu, &ts);
			continue;
		}
		bus_run_unlocked(w, NULL, bd);
		cmd_last = false;
	}
	w->finished = true;
	pthread_cond_broadcast(&w->cond);   /* bus_stop_wait() waits for this */
	bool detached = w->detached;
	pthread_mutex_unlock(&w->mu);
	if (detached)
		bus_worker_free(w);
	return NULL;
}

/* Copy the devices of the bus (all of them: a command for a disabled one is
 * answered so) and plan the enabled ones. */
static int bus_setup_devices(struct bus_worker *w, const struct config *cfg, int bus)
{
	size_t n = 0, maxpts = 1;

	for (size_t i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].bus == bus)
			n++;
	w->devs = calloc(n ? n : 1, sizeof *w->devs);
	if (!w->devs)
		goto out_oom;
	for (size_t i = 0; i < cfg->ndevices; i++) {
		const struct device_cfg *dev = &cfg->devices[i];
		if (dev->bus != bus)
			continue;
		struct bus_dev *bd = &w->devs[w->ndevs];
		size_t np = dev->npoints ? dev->npoints : 1;
		bd->dev = (int)i;
		bd->cfg = *dev;
		atomic_init(&bd->offline, false);
		bd->cfg.points = calloc(np, sizeof *bd->cfg.points);
		bd->refused_logged = calloc(np, 1);
		w->ndevs++;   /* from here on bus_worker_free() frees what it holds */
		if (!bd->cfg.points || !bd->refused_logged)
			goto out_oom;
		if (dev->npoints)
			memcpy(bd->cfg.points, dev->points, dev->npoints * sizeof *dev->points);
		if (dev->npoints > maxpts)
			maxpts = dev->npoints;
		if (!dev->enabled)
			continue;
		bd->pd.points = bd->cfg.points;
		bd->pd.npoints = bd->cfg.npoints;
		bd->pd.max_read_regs = dev->max_read_regs;
		bd->pd.max_gap = dev->max_gap;
		if (planner_build(&bd->pd, &bd->plan) != 0)
			goto out_oom;
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

/* Device A as W runs it and B of a new config are the same, but for the
 * index of their bus (memcmp of copies: a field that differs, or padding
 * that does, counts as a change: the bus is restarted, never wrongly kept). */
static bool bus_dev_same(const struct device_cfg *a, const struct device_cfg *b)
{
	struct device_cfg x = *a, y = *b;

	if (a->npoints != b->npoints ||
	    (a->npoints && memcmp(a->points, b->points, a->npoints * sizeof *a->points) != 0))
		return false;
	x.bus = y.bus = 0;
	x.points = y.points = NULL;
	return memcmp(&x, &y, sizeof x) == 0;
}

bool bus_runs(const struct bus_worker *w, const struct config *cfg, int bus)
{
	size_t k = 0;

	if (bus < 0 || (size_t)bus >= cfg->nbuses ||
	    memcmp(&w->bus, &cfg->buses[bus], sizeof w->bus) != 0)
		return false;
	for (size_t i = 0; i < cfg->ndevices; i++) {
		if (cfg->devices[i].bus != bus)
			continue;
		if (k >= w->ndevs || !bus_dev_same(&w->devs[k].cfg, &cfg->devices[i]))
			return false;
		k++;
	}
	return k == w->ndevs;
}

bool bus_same_line(const struct bus_worker *w, const struct config *cfg, int bus)
{
	const struct bus_cfg *b = &cfg->buses[bus];

	if ((b->type == BUS_RTU) != (w->bus.type == BUS_RTU))
		return false;
	if (b->type == BUS_RTU)
		return strcmp(b->device, w->bus.device) == 0;
	/* tcp and rtu-tcp: one endpoint, whichever framing (a serial device
	 * server may take one client at a time) */
	return strcmp(b->host, w->bus.host) == 0 && b->port == w->bus.port;
}

const char *bus_id(const struct bus_worker *w)
{
	return w->id;
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
	switch (b->type) {
	case BUS_RTU: s->type = DRV_BUS_RTU; break;
	case BUS_RTU_TCP: s->type = DRV_BUS_RTU_TCP; break;
	case BUS_TCP: s->type = DRV_BUS_TCP; break;
	}
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
	w->bus = cfg->buses[bus];
	w->id = w->bus.id;
	w->q = q;
	atomic_init(&w->stopping, false);
	if (bus_setup_devices(w, cfg, bus) != 0)
		goto out_free;
	driver_set_log(bus_drv_log, LOG_LVL_DEBUG);
	bus_driver_settings(&w->bus, &ds);
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
	size_t polled = 0;
	for (size_t i = 0; i < w->ndevs; i++)
		polled += w->devs[i].cfg.enabled;
	log_info(BUS_COMP, "bus %s: polling %zu device%s", w->id, polled, polled == 1 ? "" : "s");
	return w;

out_sync:
	log_error(BUS_COMP, "bus %s: cannot create thread state: %s", w->id, strerror(rc));
out_free:
	bus_worker_free(w);
	return NULL;
}

enum bus_submit_rc bus_submit(struct bus_worker *w, const struct bus_cmd *cmd)
{
	struct bus_dev *bd = cmd->raw ? NULL : bus_find_dev(w, cmd->dev_id);
	enum bus_submit_rc rc = BUS_SUBMIT_OK;

	if (cmd->raw) {
		bool bits = cmd->table == TABLE_COIL || cmd->table == TABLE_DISCRETE;
		if (cmd->unit < 0 || cmd->unit > 255 || cmd->count < 1 ||
		    cmd->count > (bits ? BUS_RAW_MAX : 125) ||
		    (uint32_t)cmd->start + cmd->count > 65536u || cmd->timeout_ms < 0)
			return BUS_SUBMIT_REFUSED;
	} else {
		if (!bd || cmd->pt < 0 || (size_t)cmd->pt >= bd->cfg.npoints)
			return BUS_SUBMIT_REFUSED;
		if (atomic_load(&bd->offline))
			return BUS_SUBMIT_OFFLINE;
	}
	struct bus_cmd_node *n = calloc(1, sizeof *n);
	if (!n) {
		log_error(BUS_COMP, "bus %s: out of memory", w->id);
		return BUS_SUBMIT_REFUSED;
	}
	n->cmd = *cmd;
	pthread_mutex_lock(&w->mu);
	if (w->stop_req)
		rc = BUS_SUBMIT_REFUSED;
	else if (w->ncmds >= BUS_CMD_QUEUE_MAX)
		rc = BUS_SUBMIT_BUSY;
	if (rc != BUS_SUBMIT_OK) {
		pthread_mutex_unlock(&w->mu);
		free(n);
		return rc;
	}
	if (w->cmd_tail)
		w->cmd_tail->next = n;
	else
		w->cmd_head = n;
	w->cmd_tail = n;
	w->ncmds++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	return BUS_SUBMIT_OK;
}

void bus_stop_ask(struct bus_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop_req = true;
	atomic_store(&w->stopping, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	driver_abort(w->drv);
}

bool bus_stop_wait(struct bus_worker *w, int timeout_ms)
{
	struct timespec dl;

	if (timeout_ms < 0)
		timeout_ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	/* Wait on the worker's cond (monotonic) rather than with
	 * pthread_timedjoin_np(), whose deadline is on the wall clock. */
	pthread_mutex_lock(&w->mu);
	while (!w->finished)
		if (pthread_cond_timedwait(&w->cond, &w->mu, &dl) == ETIMEDOUT)
			break;
	bool finished = w->finished;
	pthread_mutex_unlock(&w->mu);
	if (!finished)
		return false;
	pthread_join(w->th, NULL);
	bus_worker_free(w);
	return true;
}

void bus_detach(struct bus_worker *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->finished) {
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		bus_worker_free(w);
		return;
	}
	log_warn(BUS_COMP, "bus %s: worker did not stop in time; leaving it behind", w->id);
	w->detached = true;
	pthread_detach(w->th);
	pthread_mutex_unlock(&w->mu);   /* from here on the worker frees itself */
}

void bus_stop(struct bus_worker *w, int timeout_ms)
{
	if (!w)
		return;
	bus_stop_ask(w);
	if (!bus_stop_wait(w, timeout_ms))
		bus_detach(w);
}
