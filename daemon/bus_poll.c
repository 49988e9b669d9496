/*
 * bus_poll: one poll of one device: the plan's requests in order, a split
 * after "illegal data address", decoding with the codec, and the backoff
 * of a device that stops answering.
 * See bus_int.h.
 */
#include "bus_int.h"

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

/* Schedule the next poll; the device is offline (commands refused) after
 * offline_after failed polls in a row, as the gateway counts it. */
static void bus_schedule_and_mark(struct bus_dev *bd, const struct device_cfg *dev, bool ok)
{
	bus_schedule(bd, dev, ok);
	atomic_store(&bd->offline, bd->failures >= dev->offline_after);
}

/*
 * Poll BD once. Returns the result, or NULL when the worker is stopping (the
 * config is not touched after that) or memory ran out (logged).
 */
struct bus_result *bus_poll(struct bus_worker *w, struct bus_dev *bd)
{
	const struct device_cfg *dev = &bd->cfg;
	struct bus_result *r = bus_result_new(BUS_RES_POLL, bd, dev->npoints);
	enum drv_status fail = DRV_OK;
	int fail_exc = 0;

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
		if (st == DRV_GATEWAY) {
			/* the gateway cannot reach the device: it is as silent as a
			 * dead one, and the rest of the poll would only repeat it */
			fail_exc = exc;
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
		case DRV_GATEWAY: r->gateway++; break;
		default: r->other++; break;
		}
		if (bd->failures == 0 && fail == DRV_GATEWAY)
			log_warn(BUS_COMP, "device %s (unit %d): poll failed (gateway: exception %d, "
				 "%s); backing off", dev->id, dev->unit, fail_exc,
				 driver_exception_name(fail_exc));
		else if (bd->failures == 0)
			log_warn(BUS_COMP, "device %s (unit %d): poll failed (%s); backing off",
				 dev->id, dev->unit, driver_status_name(fail));
	}
	bus_schedule_and_mark(bd, dev, fail == DRV_OK);
	r->consecutive_failures = bd->failures;
	r->ts_ms = util_wall_ms();
	/* Nothing to re-read after a reconnect (driver_reconnected()): the
	 * decimals_from registers are read on every poll. The driver logs it. */
	return r;
}
