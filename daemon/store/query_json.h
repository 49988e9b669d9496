/*
 * query_json: the SPEC's JSON of the query module's answers (`yardwatch
 * ... --json` and, later, the status page's /api/... paths print the same
 * documents). One function per answer; each returns a new jansson value
 * owned by the caller (NULL when out of memory). Print them with
 * jsonnum_dumps(v, QUERY_JSON_FLAGS): compact, values with the fewest
 * digits that identify them (jsonnum.h), other reals (availability_pct)
 * with 15 significant digits.
 *
 * Owns: the field names and the JSON form of values and times (RFC 3339 UTC
 * with milliseconds; a point value is a number or a bool, as on MQTT).
 */
#ifndef YW_QUERY_JSON_H
#define YW_QUERY_JSON_H

#include <jansson.h>

#include "query.h"

#define QUERY_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* A time, null for QUERY_NO_TIME. */
json_t *query_json_time(int64_t ts);
/* A reading's value for a point of TYPE: null, a bool, or a jsonnum_real. */
json_t *query_json_value(const struct query_reading *r, enum yw_type type);
/* {"site", "gateway", "devices_online", ..., "first_ts", "last_ts"} */
json_t *query_json_status(const struct query_status *s);
/* [{"id", "bus", "unit_id", "state", "last_ok", "polls", "errors"}] */
json_t *query_json_devices(const struct query_device *rows, size_t n);
/* [{"id", "device", "point", "value", "unit", "ts", "quality"}] */
json_t *query_json_points(const struct query_point *rows, size_t n);
/* The stored event document, parsed with jsonnum_loads (its numbers print
 * as stored); NULL (ERR says why) when unreadable. */
json_t *query_json_event(const struct query_event *e, json_error_t *err);
/* {"ts", "value", "quality"} of one history row. */
json_t *query_json_reading(const struct query_reading *r, enum yw_type type);
/* {"since", "until", "devices": [...], "alarms": {"by_category", "by_severity"}} */
json_t *query_json_report(const struct query_report *r);

#endif
