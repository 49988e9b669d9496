/*
 * bus_cmd: the commands the main loop sends to a worker: read one point,
 * write one point and read it back, with the error text of each failure.
 * See bus_int.h.
 */
#include "bus_int.h"

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
	case DRV_GATEWAY:
		snprintf(buf, len, "device not reachable behind its gateway (exception %d: %s)",
			 exc, driver_exception_name(exc));
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

/* A raw read (C->raw): its status, exception and registers in a result. */
static struct bus_result *bus_run_raw(struct bus_worker *w, const struct bus_cmd *c)
{
	struct bus_result *r = bus_result_new(BUS_RES_CMD, NULL, 0);
	uint16_t *regs = calloc(c->count, sizeof *regs);

	if (!r || !regs) {
		log_error(BUS_COMP, "bus %s: out of memory", w->id);
		bus_result_free(r);
		free(regs);
		return NULL;
	}
	r->cmd = *c;
	if (c->timeout_ms > 0)
		driver_set_timeout(w->drv, c->timeout_ms, 0);
	r->raw_status = driver_read(w->drv, c->unit, c->table, c->start, c->count, regs,
				    &r->raw_exc);
	if (c->timeout_ms > 0)
		driver_set_timeout(w->drv, w->bus.timeout_ms, w->bus.retries);
	if (atomic_load(&w->stopping)) {
		bus_result_free(r);
		free(regs);
		return NULL;
	}
	r->cmd_ok = r->raw_status == DRV_OK;
	if (r->cmd_ok)
		r->raw = regs;
	else
		free(regs);
	if (!r->cmd_ok)
		bus_drv_error(r->error, sizeof r->error, "read", r->raw_status, r->raw_exc);
	r->ts_ms = util_wall_ms();
	return r;
}

/* Run command C; the result, or NULL when stopping / out of memory. A
 * command for a device that went offline after it was queued is refused
 * without I/O (bus_int.h). */
struct bus_result *bus_run_cmd(struct bus_worker *w, const struct bus_cmd *c)
{
	struct bus_dev *bd;
	struct bus_result *r;
	int rc;

	if (c->raw)
		return bus_run_raw(w, c);
	bd = bus_find_dev(w, c->dev_id);
	if (!bd)
		return NULL;   /* bus_submit() checked it: cannot happen */
	const struct device_cfg *dev = &bd->cfg;
	r = bus_result_new(BUS_RES_CMD, bd, 0);
	if (!r) {
		log_error(BUS_COMP, "device %s: out of memory", dev->id);
		return NULL;
	}
	r->cmd = *c;
	if (!dev->enabled) {
		snprintf(r->error, sizeof r->error, "device %s is disabled", dev->id);
		rc = -1;
	} else if (atomic_load(&bd->offline)) {
		snprintf(r->error, sizeof r->error, "device %s is offline", dev->id);
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
