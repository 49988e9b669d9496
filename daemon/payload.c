#include "payload.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonnum.h"
#include "log.h"

/*
 * Values (of points, thresholds, clear levels) go through jsonnum: printed
 * with the fewest digits that identify them (numfmt), an integral value as
 * an integer (5, not 5.0). The codec has already made them what a person
 * would write (0.35, not 0.35000000000000003). The precision flag only
 * concerns reals that are not values (none today).
 */
#define PL_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Length of the valid UTF-8 sequence at P (at most N bytes), 0 if invalid. */
static size_t pl_utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string of S. Text from the config is UTF-8, but one cut at a fixed
 * buffer size may end inside a character: such bytes become '?' rather than
 * costing the whole payload (an alarm event must always go out). */
static json_t *pl_string(const char *s)
{
	json_t *j = json_string(s);
	size_t n, i = 0, k;
	char *copy;

	if (j)
		return j;
	n = strlen(s);
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	while (i < n) {
		k = pl_utf8_len((const unsigned char *)s + i, n - i);
		if (k == 0) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, s + i, k);
		i += k;
	}
	copy[n] = '\0';
	j = json_string(copy);
	free(copy);
	return j;
}

/* NULL or "" -> null. */
static json_t *pl_string_or_null(const char *s)
{
	if (!s || !*s)
		return json_null();
	return pl_string(s);
}

/* Absent or not finite -> null; bool -> true/false; else a number. */
static json_t *pl_json_value(const struct pl_value *v)
{
	if (!v->present || (!v->is_bool && !isfinite(v->v)))
		return json_null();
	if (v->is_bool)
		return json_boolean(v->v != 0);
	return jsonnum_real(v->v);
}

static json_t *pl_time(int64_t ms)
{
	char buf[40];

	return json_string(util_fmt_time(ms, buf, sizeof buf));
}

/* Set K to V (stolen); -1 when V is NULL (allocation failed) or setting fails. */
static int pl_set(json_t *o, const char *k, json_t *v)
{
	if (!v)
		return -1;
	return json_object_set_new(o, k, v) == 0 ? 0 : -1;
}

/* Dump and release O; NULL when RC says a part is missing. */
static char *pl_finish(json_t *o, int rc)
{
	char *s = NULL;

	if (o && rc == 0)
		s = jsonnum_dumps(o, PL_DUMP_FLAGS);
	json_decref(o);
	return s;
}

char *payload_event(const struct pl_event *e)
{
	const char *state = e->state == ALARM_EV_NONE ? NULL : alarm_event_name(e->state);
	bool offline = e->point == NULL;   /* the implicit DEVICE.offline alarm */
	char event_id[YW_TEXT_MAX + 32];
	json_t *o;
	int rc = 0;

	if (!state)
		return NULL;
	o = json_object();
	if (!o)
		return NULL;
	snprintf(event_id, sizeof event_id, "%s-%lld", e->gateway ? e->gateway : "",
		 (long long)e->seq);
	rc |= pl_set(o, "event_id", pl_string(event_id));
	rc |= pl_set(o, "seq", json_integer((json_int_t)e->seq));
	rc |= pl_set(o, "alarm", pl_string_or_null(e->alarm));
	rc |= pl_set(o, "state", json_string(state));
	rc |= pl_set(o, "severity", json_string(config_severity_name(e->severity)));
	rc |= pl_set(o, "category", json_string(config_category_name(e->category)));
	rc |= pl_set(o, "point", offline ? json_null() : pl_string_or_null(e->point));
	rc |= pl_set(o, "device", pl_string_or_null(e->device));
	rc |= pl_set(o, "location", pl_string_or_null(e->location));
	rc |= pl_set(o, "value", offline ? json_null() : pl_json_value(&e->value));
	rc |= pl_set(o, "unit", offline ? json_null() : pl_string_or_null(e->unit));
	rc |= pl_set(o, "threshold", offline ? json_null() : pl_json_value(&e->threshold));
	if (!offline && e->clear.present)
		rc |= pl_set(o, "clear", pl_json_value(&e->clear));
	rc |= pl_set(o, "message", pl_string_or_null(e->message));
	rc |= pl_set(o, "ts", pl_time(e->ts_ms));
	rc |= pl_set(o, "raised_ts", pl_time(e->raised_ts_ms));
	rc |= pl_set(o, "acked", json_boolean(e->acked));
	if (e->clock_unset)
		rc |= pl_set(o, "clock_unset", json_true());
	return pl_finish(o, rc);
}

char *payload_status_online(const struct pl_status *s)
{
	json_t *o = json_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= pl_set(o, "online", json_true());
	rc |= pl_set(o, "version", pl_string_or_null(s->version));
	rc |= pl_set(o, "started", pl_time(s->started_ms));
	rc |= pl_set(o, "ts", pl_time(s->ts_ms));
	rc |= pl_set(o, "outbox", json_integer((json_int_t)s->outbox));
	rc |= pl_set(o, "store", json_string(s->store_failing ? "failing" : "ok"));
	return pl_finish(o, rc);
}

char *payload_status_will(void)
{
	json_t *o = json_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= pl_set(o, "online", json_false());
	rc |= pl_set(o, "reason", json_string("lost"));
	return pl_finish(o, rc);
}

char *payload_status_shutdown(int64_t ts_ms)
{
	json_t *o = json_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= pl_set(o, "online", json_false());
	rc |= pl_set(o, "reason", json_string("shutdown"));
	rc |= pl_set(o, "ts", pl_time(ts_ms));
	return pl_finish(o, rc);
}

char *payload_alarms_active(int64_t ts_ms, const char *const *events, size_t n)
{
	json_t *o = json_object();
	json_t *arr = json_array();
	json_t *ev;
	json_error_t jerr;
	size_t i;
	int rc = 0;

	if (!o || !arr) {
		json_decref(arr);
		json_decref(o);
		return NULL;
	}
	rc |= pl_set(o, "ts", pl_time(ts_ms));
	rc |= pl_set(o, "alarms", arr);   /* o owns arr from here */
	for (i = 0; i < n && rc == 0; i++) {
		if (!events[i])
			continue;
		ev = jsonnum_loads(events[i], 0, &jerr);   /* its numbers as written */
		if (!ev || !json_is_object(ev)) {
			log_warn("payload", "active alarms: skipping a stored event that is not "
				 "a JSON object (%s)", ev ? "not an object" : jerr.text);
			json_decref(ev);
			continue;
		}
		rc |= json_array_append_new(arr, ev) == 0 ? 0 : -1;
	}
	return pl_finish(o, rc);
}

char *payload_device_status(const char *device, bool online, int64_t ts_ms,
			    int64_t last_ok_ms, int64_t errors)
{
	json_t *o = json_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= pl_set(o, "device", pl_string_or_null(device));
	rc |= pl_set(o, "online", json_boolean(online));
	rc |= pl_set(o, "ts", pl_time(ts_ms));
	rc |= pl_set(o, "last_ok", last_ok_ms ? pl_time(last_ok_ms) : json_null());
	rc |= pl_set(o, "errors", json_integer((json_int_t)errors));
	return pl_finish(o, rc);
}

char *payload_telemetry(const char *device, int64_t ts_ms, const char *const *names,
			const struct pl_value *values, size_t n, enum yw_quality quality)
{
	json_t *o = json_object();
	json_t *vals = json_object();
	size_t i;
	int rc = 0;

	if (!o || !vals) {
		json_decref(vals);
		json_decref(o);
		return NULL;
	}
	rc |= pl_set(o, "device", pl_string_or_null(device));
	rc |= pl_set(o, "ts", pl_time(ts_ms));
	rc |= pl_set(o, "values", vals);   /* o owns vals from here */
	for (i = 0; i < n && rc == 0; i++) {
		if (names[i])
			rc |= pl_set(vals, names[i], pl_json_value(&values[i]));
	}
	rc |= pl_set(o, "quality", json_string(point_quality_name(quality)));
	return pl_finish(o, rc);
}

char *payload_cmd_result(const char *id, bool ok, const char *error,
			 const struct pl_value *value)
{
	json_t *o = json_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= pl_set(o, "id", id ? pl_string(id) : json_null());
	rc |= pl_set(o, "ok", json_boolean(ok));
	if (!ok)
		rc |= pl_set(o, "error", pl_string(error && *error ? error : "failed"));
	if (value)
		rc |= pl_set(o, "value", pl_json_value(value));
	return pl_finish(o, rc);
}

/* ---- commands ---- */

/*
 * Commands are made by machines, so the parser is strict: the payload is one
 * JSON object (duplicate keys are malformed JSON), "id" is a non-empty
 * string (a numeric id is refused, not converted: the result must echo it as
 * the sender wrote it), unknown keys are refused. Every field that can be
 * read is filled in, but the error names the first problem in this order:
 * JSON syntax, not an object, "id", unknown keys (in document order), then
 * the command's own fields in the SPEC's order.
 */

struct pl_parse {
	char *err;
	size_t errlen;
	bool failed;
};

static void pl_fail(struct pl_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Record the first problem only. */
static void pl_fail(struct pl_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	if (p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
}

/* [a-z0-9][a-z0-9_-]{0,62}, LEN bytes of S. */
static bool pl_is_id(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > YW_ID_MAX - 1)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool pl_is_fullid(const char *s)
{
	const char *dot = strchr(s, '.');

	return dot && pl_is_id(s, (size_t)(dot - s)) && pl_is_id(dot + 1, strlen(dot + 1));
}

/* Read string KEY of O into DST (SIZE bytes). REQUIRED: absence is an error.
 * Returns 1 when read, 0 when absent or wrong. */
static int pl_get_string(struct pl_parse *p, json_t *o, const char *key, bool required,
			 bool nonempty, char *dst, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		if (required)
			pl_fail(p, "missing \"%s\"", key);
		return 0;
	}
	if (!json_is_string(v) || (nonempty && json_string_length(v) == 0)) {
		if (nonempty)
			pl_fail(p, "\"%s\" must be a non-empty string", key);
		else
			pl_fail(p, "\"%s\" must be a string", key);
		return 0;
	}
	if (json_string_length(v) >= size) {
		pl_fail(p, "\"%s\" is too long (max %zu bytes)", key, size - 1);
		return 0;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

static void pl_get_point(struct pl_parse *p, json_t *o, struct pl_cmd *out)
{
	json_t *v = json_object_get(o, "point");

	if (!v) {
		pl_fail(p, "missing \"%s\"", "point");
		return;
	}
	if (!json_is_string(v) || !pl_is_fullid(json_string_value(v))) {
		pl_fail(p, "\"%s\" must be a string DEVICE.POINT", "point");
		return;
	}
	memcpy(out->point, json_string_value(v), json_string_length(v) + 1);
}

static void pl_get_value(struct pl_parse *p, json_t *o, struct pl_cmd *out)
{
	json_t *v = json_object_get(o, "value");

	if (!v) {
		pl_fail(p, "missing \"%s\"", "value");
		return;
	}
	if (json_is_boolean(v)) {
		out->value.present = true;
		out->value.is_bool = true;
		out->value.v = json_is_true(v) ? 1 : 0;
	} else if (json_is_number(v)) {
		out->value.present = true;
		out->value.is_bool = false;
		out->value.v = json_number_value(v);
	} else {
		pl_fail(p, "\"%s\" must be a number or a boolean", "value");
	}
}

static const char *const pl_cmd_keys[][4] = {
	[PL_CMD_ACK] = { "id", "alarm", "by", NULL },
	[PL_CMD_WRITE] = { "id", "point", "value", NULL },
	[PL_CMD_READ] = { "id", "point", NULL, NULL },
};

int payload_parse_cmd(enum pl_cmd_kind kind, const char *json, size_t len,
		      struct pl_cmd *out, char *err, size_t errlen)
{
	struct pl_parse p = { err, errlen, false };
	json_error_t jerr;
	json_t *root;
	const char *key;
	json_t *val;
	size_t i;
	bool known;

	memset(out, 0, sizeof *out);
	out->kind = kind;
	out->id_null = true;
	if (errlen)
		err[0] = '\0';
	if ((unsigned)kind > PL_CMD_READ) {
		pl_fail(&p, "unknown command kind %d", (int)kind);
		return -1;
	}

	root = json_loadb(json ? json : "", json ? len : 0,
			  JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		pl_fail(&p, "malformed JSON: %s at line %d column %d", jerr.text, jerr.line,
			jerr.column);
		return -1;
	}
	if (!json_is_object(root)) {
		pl_fail(&p, "payload must be a JSON object");
		json_decref(root);
		return -1;
	}

	if (pl_get_string(&p, root, "id", true, true, out->id, sizeof out->id))
		out->id_null = false;

	json_object_foreach(root, key, val) {
		known = false;
		for (i = 0; pl_cmd_keys[kind][i]; i++)
			known = known || strcmp(key, pl_cmd_keys[kind][i]) == 0;
		if (!known) {
			pl_fail(&p, "unknown key \"%s\"", key);
			break;
		}
	}

	switch (kind) {
	case PL_CMD_ACK:
		pl_get_string(&p, root, "alarm", true, true, out->alarm, sizeof out->alarm);
		pl_get_string(&p, root, "by", false, false, out->by, sizeof out->by);
		break;
	case PL_CMD_WRITE:
		pl_get_point(&p, root, out);
		pl_get_value(&p, root, out);
		break;
	case PL_CMD_READ:
		pl_get_point(&p, root, out);
		break;
	}
	json_decref(root);
	return p.failed ? -1 : 0;
}
