/*
 * query_json: the query module's rows as the SPEC's JSON documents (see
 * query_json.h). Arrays skip a row jansson cannot represent (e.g. text that
 * is not UTF-8) rather than fail the whole document.
 */
#include "../jsonnum.h"
#include "../util.h"
#include "query_json.h"

#define QUERY_JSON_TIME_LEN 32

json_t *query_json_time(int64_t ts)
{
	char t[QUERY_JSON_TIME_LEN];

	if (ts == QUERY_NO_TIME)
		return json_null();
	return json_string(util_fmt_time(ts, t, sizeof t));
}

/* TEXT, or null when it is NULL or empty. */
static json_t *query_json_text(const char *text)
{
	return text && *text ? json_string(text) : json_null();
}

json_t *query_json_value(const struct query_reading *r, enum yw_type type)
{
	if (!r->has_value)
		return json_null();
	if (type == TYPE_BOOL)
		return json_boolean(r->value != 0);
	return jsonnum_real(r->value);   /* as on MQTT: 5, 0.35, 229.1136 */
}

json_t *query_json_status(const struct query_status *s)
{
	return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
			 "site", query_json_text(s->site),
			 "gateway", query_json_text(s->gateway),
			 "devices_online", (json_int_t)s->devices_online,
			 "devices_total", (json_int_t)s->devices_total,
			 "alarms_active", (json_int_t)s->alarms_active,
			 "outbox_depth", (json_int_t)s->outbox_depth,
			 "db_bytes", (json_int_t)s->db_bytes,
			 "wal_bytes", (json_int_t)s->wal_bytes,
			 "max_bytes", s->max_bytes < 0 ? json_null() :
				 json_integer((json_int_t)s->max_bytes),
			 "first_ts", query_json_time(s->first_ts),
			 "last_ts", query_json_time(s->last_ts));
}

json_t *query_json_devices(const struct query_device *rows, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		const struct query_device *d = &rows[i];
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:o, s:I, s:I}",
			"id", d->id, "bus", d->bus, "unit_id", (json_int_t)d->unit_id,
			"state", d->state, "last_ok", query_json_time(d->last_ok),
			"polls", (json_int_t)d->polls, "errors", (json_int_t)d->errors));
	}
	return arr;
}

json_t *query_json_points(const struct query_point *rows, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		const struct query_point *p = &rows[i];
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s}",
			"id", p->id, "device", p->device, "point", p->point,
			"value", query_json_value(&p->latest, p->type),
			"unit", query_json_text(p->unit), "ts", query_json_time(p->latest.ts),
			"quality", point_quality_name(p->latest.quality)));
	}
	return arr;
}

json_t *query_json_event(const struct query_event *e, json_error_t *err)
{
	json_t *ev = jsonnum_loads(e->json, JSON_REJECT_DUPLICATES, err);

	if (!json_is_object(ev)) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

json_t *query_json_reading(const struct query_reading *r, enum yw_type type)
{
	char t[QUERY_JSON_TIME_LEN];

	return json_pack("{s:s, s:o, s:s}", "ts", util_fmt_time(r->ts, t, sizeof t),
			 "value", query_json_value(r, type),
			 "quality", point_quality_name(r->quality));
}

/* {NAME: COUNT} for every category (BY_CATEGORY) or severity, in enum order. */
static json_t *query_json_counts(const int64_t *counts, bool by_category)
{
	int n = by_category ? QUERY_NCATEGORIES : QUERY_NSEVERITIES;
	json_t *o = json_object();

	for (int i = 0; o && i < n; i++)
		json_object_set_new(o, by_category ? config_category_name((enum yw_category)i) :
				    config_severity_name((enum yw_severity)i),
				    json_integer((json_int_t)counts[i]));
	return o;
}

json_t *query_json_report(const struct query_report *r)
{
	char t1[QUERY_JSON_TIME_LEN], t2[QUERY_JSON_TIME_LEN];
	json_t *devs = json_array();

	for (size_t i = 0; devs && i < r->ndevices; i++) {
		const struct query_report_device *d = &r->devices[i];
		json_array_append_new(devs, json_pack("{s:s, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I}",
			"id", d->id,
			"availability_pct", d->has_availability ? json_real(d->availability_pct) :
								  json_null(),
			"polls", (json_int_t)d->polls,
			"failures", "timeout", (json_int_t)d->timeouts,
			"exception", (json_int_t)d->exceptions, "crc", (json_int_t)d->crc,
			"gateway", (json_int_t)d->gateway, "other", (json_int_t)d->other,
			"longest_outage_s", (json_int_t)((d->longest_outage_ms + 500) / 1000)));
	}
	return json_pack("{s:s, s:s, s:o, s:{s:o, s:o}}",
			 "since", util_fmt_time(r->since, t1, sizeof t1),
			 "until", util_fmt_time(r->until, t2, sizeof t2),
			 "devices", devs, "alarms",
			 "by_category", query_json_counts(r->by_category, true),
			 "by_severity", query_json_counts(r->by_severity, false));
}
