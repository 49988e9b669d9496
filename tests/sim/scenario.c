/*
 * scenario: parsing and validating steps (see scenario.h), from a scenario
 * file (a JSON array; every error is printed with its path, e.g.
 * "[3].fault.kind: ...") or from one --control line (the first error is
 * the reply). A step has at_s (scenario only) and exactly one action: set,
 * offline, online, exception, illegal, drift, fault; "get" on control.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/log.h"
#include "../../drivers/codec.h"
#include "frame.h"
#include "scenario.h"
#include "sim.h"

#define SCENARIO_DELAY_MAX 600000  /* late: at most 10 minutes */

static void scenario_err(struct sim_err *e, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void scenario_err(struct sim_err *e, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->n == 0)
		snprintf(e->first, sizeof(e->first), "%s%s%s", path, path[0] ? ": " : "", msg);
	if (e->file)
		fprintf(stderr, "%s: %s: %s\n", e->file, path[0] ? path : "(top)", msg);
	e->n++;
}

/* PATH.KEY into DST (truncated when too long: it is only an error label). */
static void scenario_join(char *dst, size_t n, const char *path, const char *key)
{
	if (snprintf(dst, n, "%s%s%s", path, path[0] ? "." : "", key) < 0)
		dst[0] = '\0';
}

static int scenario_dev(struct sim *s, json_t *v, const char *path, struct sim_err *e)
{
	int k;

	if (!json_is_string(v)) {
		scenario_err(e, path, "must be a device id (string)");
		return -1;
	}
	k = config_find_device(s->cfg, json_string_value(v));
	if (k < 0)
		scenario_err(e, path, "unknown device \"%s\"", json_string_value(v));
	return k;
}

/* "DEVICE.POINT" -> indexes; -1 with an error. */
static int scenario_point(struct sim *s, const char *id, const char *path, int *dev, int *pt,
			  struct sim_err *e)
{
	char dname[YW_ID_MAX];
	const char *dot = strchr(id, '.');

	if (!dot || (size_t)(dot - id) >= sizeof(dname)) {
		scenario_err(e, path, "expected \"DEVICE.POINT\", got \"%s\"", id);
		return -1;
	}
	memcpy(dname, id, (size_t)(dot - id));
	dname[dot - id] = '\0';
	*dev = config_find_device(s->cfg, dname);
	if (*dev < 0) {
		scenario_err(e, path, "unknown device \"%s\"", dname);
		return -1;
	}
	*pt = config_find_point(&s->cfg->devices[*dev], dot + 1);
	if (*pt < 0) {
		scenario_err(e, path, "device \"%s\" has no point \"%s\"", dname, dot + 1);
		return -1;
	}
	return 0;
}

/* Checks that point (DEV, PT) can take JV now; -1 with an error. */
static int scenario_value(struct sim *s, int dev, int pt, json_t *jv, double *out,
			  const char *path, struct sim_err *e)
{
	const struct sim_dev *d = &s->model.devs[dev];
	const struct point_cfg *p = &d->cfg->points[pt];
	bool is_bool = p->table == TABLE_COIL || p->table == TABLE_DISCRETE || p->type == TYPE_BOOL;
	double v, lo, hi;
	int dec;

	if (is_bool) {
		if (json_is_boolean(jv)) {
			*out = json_is_true(jv) ? 1 : 0;
			return 0;
		}
		if (json_is_integer(jv) && (json_integer_value(jv) == 0 || json_integer_value(jv) == 1)) {
			*out = (double)json_integer_value(jv);
			return 0;
		}
		scenario_err(e, path, "must be true/false or 0/1");
		return -1;
	}
	if (!json_is_number(jv)) {
		scenario_err(e, path, "must be a number");
		return -1;
	}
	v = json_number_value(jv);
	if (!isfinite(v)) {
		scenario_err(e, path, "must be a finite number");
		return -1;
	}
	if (d->pts[pt].is_decimals && (v != floor(v) || v < 0 || v > 9)) {
		scenario_err(e, path, "decimal places must be an integer in 0..9");
		return -1;
	}
	dec = model_decimals(d, p);
	codec_range(p, dec < 0 ? 0 : dec, &lo, &hi);
	if (!(v >= lo && v <= hi)) {
		scenario_err(e, path, "%g is outside the range %g..%g of the point", v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int scenario_set(struct sim *s, json_t *v, const char *path, struct sim_step *st,
			struct sim_err *e)
{
	const char *key;
	json_t *jv;
	char sub[YW_TEXT_MAX * 2];
	int rc = 0;

	if (!json_is_object(v) || json_object_size(v) == 0) {
		scenario_err(e, path, "must be an object {\"DEVICE.POINT\": value, ...}");
		return -1;
	}
	st->values = calloc(json_object_size(v), sizeof(*st->values));
	if (!st->values) {
		scenario_err(e, path, "out of memory");
		return -1;
	}
	json_object_foreach(v, key, jv) {
		struct step_value *sv = &st->values[st->nvalues];

		scenario_join(sub, sizeof(sub), path, key);
		if (scenario_point(s, key, sub, &sv->dev, &sv->pt, e) != 0 ||
		    scenario_value(s, sv->dev, sv->pt, jv, &sv->value, sub, e) != 0) {
			rc = -1;
			continue;
		}
		st->nvalues++;
	}
	return rc;
}

static int scenario_int(json_t *v, long long lo, long long hi, long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* One key (not "device") of an action object: 0 taken, -1 bad (error
 * given), 1 not a key of this action. */
typedef int (*scenario_field_fn)(const char *key, json_t *jv, const char *path,
				 struct sim_step *st, struct sim_err *e);

/* Walks the keys of action object V at PATH: "device" into st->dev (and
 * *HAVE_DEV), the others through FIELD. SHAPE describes the object for the
 * error when V is not one. -1 after errors. */
static int scenario_object(struct sim *s, json_t *v, const char *path, const char *shape,
			   scenario_field_fn field, struct sim_step *st, bool *have_dev,
			   struct sim_err *e)
{
	const char *key;
	json_t *jv;
	char sub[YW_TEXT_MAX];
	int rc = 0, r;

	*have_dev = false;
	if (!json_is_object(v)) {
		scenario_err(e, path, "must be an object %s", shape);
		return -1;
	}
	json_object_foreach(v, key, jv) {
		scenario_join(sub, sizeof(sub), path, key);
		if (strcmp(key, "device") == 0) {
			*have_dev = true;
			r = (st->dev = scenario_dev(s, jv, sub, e)) < 0 ? -1 : 0;
		} else if ((r = field(key, jv, sub, st, e)) > 0) {
			scenario_err(e, sub, "unknown key");
			r = -1;
		}
		if (r)
			rc = -1;
	}
	return rc;
}

static int scenario_exception_field(const char *key, json_t *jv, const char *path,
				    struct sim_step *st, struct sim_err *e)
{
	long long code;

	if (strcmp(key, "code") != 0)
		return 1;
	st->have_key = true;
	if (scenario_int(jv, 0, 255, &code) != 0) {
		scenario_err(e, path, "must be an integer in 0..255 (0 clears)");
		return -1;
	}
	st->code = (int)code;
	return 0;
}

static int scenario_illegal_field(const char *key, json_t *jv, const char *path,
				  struct sim_step *st, struct sim_err *e)
{
	static const char *const tables[] = { "coil", "discrete", "input", "holding" };
	long long n;
	int t;

	if (strcmp(key, "table") == 0) {
		for (t = 0; t < 4; t++)
			if (json_is_string(jv) && strcmp(json_string_value(jv), tables[t]) == 0)
				break;
		if (t == 4) {
			scenario_err(e, path, "must be coil, discrete, input or holding");
			return -1;
		}
		st->table = (enum yw_table)t;
	} else if (strcmp(key, "start") == 0) {
		st->have_key = true;
		if (scenario_int(jv, 0, 65535, &n) != 0) {
			scenario_err(e, path, "must be an integer in 0..65535");
			return -1;
		}
		st->start = (uint32_t)n;
	} else if (strcmp(key, "count") == 0) {
		if (scenario_int(jv, 0, 65536, &n) != 0) {
			scenario_err(e, path,
				     "must be an integer in 0..65536 (0 clears the table's ranges)");
			return -1;
		}
		st->count = (uint32_t)n;
	} else {
		return 1;
	}
	return 0;
}

static int scenario_fault_field(const char *key, json_t *jv, const char *path,
				struct sim_step *st, struct sim_err *e)
{
	long long n;
	int k;

	if (strcmp(key, "kind") == 0) {
		st->have_key = true;
		if (json_is_null(jv))
			return 0;
		for (k = FAULT_NONE; k <= FAULT_SILENT; k++)
			if (json_is_string(jv) &&
			    strcmp(json_string_value(jv), frame_fault_name((enum fault_kind)k)) == 0)
				break;
		if (k > FAULT_SILENT) {
			scenario_err(e, path, "must be one of garbage, truncate, bad_crc, wrong_unit, "
				     "wrong_tid, late, silent; or none or null (clears)");
			return -1;
		}
		st->fault = (enum fault_kind)k;
	} else if (strcmp(key, "for_s") == 0) {
		if (!json_is_number(jv) || !(json_number_value(jv) > 0) ||
		    !isfinite(json_number_value(jv))) {
			scenario_err(e, path, "must be a number of seconds > 0");
			return -1;
		}
		st->for_s = json_number_value(jv);
	} else if (strcmp(key, "delay_ms") == 0) {
		if (scenario_int(jv, 1, SCENARIO_DELAY_MAX, &n) != 0) {
			scenario_err(e, path, "must be an integer in 1..%d", SCENARIO_DELAY_MAX);
			return -1;
		}
		st->delay_ms = (int)n;
	} else {
		return 1;
	}
	return 0;
}

static int scenario_exception(struct sim *s, json_t *v, const char *path, struct sim_step *st,
			      struct sim_err *e)
{
	bool have_dev;
	int rc = scenario_object(s, v, path, "{\"device\": D, \"code\": N}",
				 scenario_exception_field, st, &have_dev, e);

	if (json_is_object(v) && (!have_dev || !st->have_key)) {
		scenario_err(e, path, "needs \"device\" and \"code\"");
		rc = -1;
	}
	return rc;
}

static int scenario_illegal(struct sim *s, json_t *v, const char *path, struct sim_step *st,
			    struct sim_err *e)
{
	bool have_dev;
	int rc;

	st->table = TABLE_HOLDING;
	st->count = 1;
	rc = scenario_object(s, v, path, "{\"device\", \"table\", \"start\", \"count\"}",
			     scenario_illegal_field, st, &have_dev, e);
	if (!json_is_object(v))
		return rc;
	if (!have_dev || (!st->have_key && st->count > 0)) {
		scenario_err(e, path, "needs \"device\" and \"start\"");
		rc = -1;
	} else if (st->start + st->count > 65536) {
		scenario_err(e, path, "start + count must not exceed 65536");
		rc = -1;
	}
	return rc;
}

static int scenario_fault(struct sim *s, json_t *v, const char *path, struct sim_step *st,
			  struct sim_err *e)
{
	bool have_dev;
	int rc = scenario_object(s, v, path,
				 "{\"device\", \"kind\", \"for_s\", \"delay_ms\"}",
				 scenario_fault_field, st, &have_dev, e);

	if (!json_is_object(v))
		return rc;
	if (!have_dev || !st->have_key) {
		scenario_err(e, path, "needs \"device\" and \"kind\"");
		rc = -1;
	} else if (st->fault == FAULT_LATE && st->delay_ms == 0) {
		scenario_err(e, path, "kind \"late\" needs \"delay_ms\"");
		rc = -1;
	} else if (st->fault != FAULT_LATE && st->delay_ms > 0) {
		scenario_err(e, path, "\"delay_ms\" goes only with kind \"late\"");
		rc = -1;
	} else if (st->fault == FAULT_NONE && st->for_s > 0) {
		scenario_err(e, path, "\"for_s\" does not go with clearing a fault");
		rc = -1;
	}
	return rc;
}

/* The action KEY of a step: its kind and parser. */
static int scenario_action(struct sim *s, const char *key, json_t *v, const char *path,
			   bool scenario, struct sim_step *st, struct sim_err *e)
{
	if (strcmp(key, "set") == 0) {
		st->kind = STEP_SET;
		return scenario_set(s, v, path, st, e);
	}
	if (strcmp(key, "offline") == 0 || strcmp(key, "online") == 0) {
		st->kind = key[1] == 'f' ? STEP_OFFLINE : STEP_ONLINE;
		st->dev = scenario_dev(s, v, path, e);
		return st->dev < 0 ? -1 : 0;
	}
	if (strcmp(key, "exception") == 0) {
		st->kind = STEP_EXCEPTION;
		return scenario_exception(s, v, path, st, e);
	}
	if (strcmp(key, "illegal") == 0) {
		st->kind = STEP_ILLEGAL;
		return scenario_illegal(s, v, path, st, e);
	}
	if (strcmp(key, "fault") == 0) {
		st->kind = STEP_FAULT;
		return scenario_fault(s, v, path, st, e);
	}
	if (strcmp(key, "drift") == 0) {
		st->kind = STEP_DRIFT;
		st->drift = json_is_true(v);
		if (json_is_boolean(v))
			return 0;
		scenario_err(e, path, "must be true or false");
		return -1;
	}
	if (strcmp(key, "get") == 0 && !scenario) {
		st->kind = STEP_GET;
		if (json_is_string(v))
			return scenario_point(s, json_string_value(v), path, &st->dev, &st->pt, e);
		scenario_err(e, path, "must be \"DEVICE.POINT\"");
		return -1;
	}
	scenario_err(e, path, "unknown key (actions: set, offline, online, exception, "
		     "illegal, drift, fault%s)", scenario ? "; and at_s" : ", get");
	return -1;
}

int scenario_parse_step(struct sim *s, json_t *o, const char *path, bool scenario,
			struct sim_step *st, struct sim_err *e)
{
	const char *key;
	json_t *v;
	char sub[YW_TEXT_MAX];
	int nact = 0, rc = 0;
	bool have_at = false;

	memset(st, 0, sizeof(*st));
	st->dev = st->pt = -1;
	if (!json_is_object(o)) {
		scenario_err(e, path, "a step must be an object");
		return -1;
	}
	json_object_foreach(o, key, v) {
		scenario_join(sub, sizeof(sub), path, key);
		if (strcmp(key, "at_s") == 0) {
			have_at = true;
			if (!scenario) {
				scenario_err(e, sub, "not allowed in a control step (it applies at once)");
				rc = -1;
			} else if (!json_is_number(v) || !(json_number_value(v) >= 0) ||
				   !isfinite(json_number_value(v))) {
				scenario_err(e, sub, "must be a number of seconds >= 0");
				rc = -1;
			} else {
				st->at_s = json_number_value(v);
			}
			continue;
		}
		if (++nact == 1 && scenario_action(s, key, v, sub, scenario, st, e) != 0)
			rc = -1;
	}
	if (scenario && !have_at) {
		scenario_err(e, path, "missing \"at_s\"");
		rc = -1;
	}
	if (nact != 1) {
		scenario_err(e, path, nact ? "more than one action in one step" :
			     "no action (set, offline, online, exception, illegal, drift, fault)");
		rc = -1;
	}
	return rc;
}

void scenario_free(struct sim_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(steps[i].values);
	free(steps);
}

static int scenario_cmp(const void *a, const void *b)
{
	const struct sim_step *x = a, *y = b;

	if (x->at_s != y->at_s)
		return x->at_s < y->at_s ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

int scenario_load(struct sim *s, const char *file)
{
	json_error_t jerr;
	json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	struct sim_err e = { .file = file };
	size_t n, i;

	if (!root) {
		if (jerr.line > 0)
			fprintf(stderr, "%s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
		else
			fprintf(stderr, "%s: %s\n", file, jerr.text);
		return -1;
	}
	if (!json_is_array(root)) {
		fprintf(stderr, "%s: (top): must be an array of steps\n", file);
		json_decref(root);
		return -1;
	}
	n = json_array_size(root);
	s->steps = calloc(n ? n : 1, sizeof(*s->steps));
	if (!s->steps) {
		json_decref(root);
		log_error("sim", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		char path[32];

		snprintf(path, sizeof(path), "[%zu]", i);
		scenario_parse_step(s, json_array_get(root, i), path, true, &s->steps[i], &e);
		s->steps[i].index = i;
	}
	s->nsteps = n;
	json_decref(root);
	if (e.n > 0)
		return -1;
	qsort(s->steps, s->nsteps, sizeof(*s->steps), scenario_cmp);
	log_info("sim", "scenario %s: %zu steps", file, n);
	return 0;
}
