/*
 * cmd_alarms: the alarm events, newest first, or (--active) the latest
 * event of each active alarm. The events are printed from the documents the
 * store holds (as published on MQTT), so the table and the JSON agree with
 * what the centre received.
 */
#include <stdio.h>

#include "../jsonnum.h"
#include "../util.h"
#include "../../drivers/numfmt.h"
#include "../store/query_json.h"
#include "cli.h"
#include "output.h"

static const char *cli_jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "-";
}

/* The event's time KEY (RFC 3339 UTC in the document) as a table shows
 * times, into BUF (CLI_TIME_LEN); a text that is not a time as it is. */
static const char *cli_jtime(json_t *o, const char *key, char *buf)
{
	const char *v = cli_jstr(o, key);
	int64_t ms;

	if (util_parse_time(v, 0, &ms) != 0)
		return v;
	return cli_time(ms, buf);
}

static void cli_alarm_row(struct cli_table *t, json_t *ev, bool active)
{
	json_t *val = json_object_get(ev, "value");
	const char *unit = json_string_value(json_object_get(ev, "unit"));
	char v[64] = "-", num[NUMFMT_LEN], t1[CLI_TIME_LEN];
	double x;

	if (json_is_boolean(val))
		snprintf(v, sizeof v, "%s", json_is_true(val) ? "true" : "false");
	else if (jsonnum_value(val, &x) == 0)
		snprintf(v, sizeof v, "%s%s%s", numfmt_double(x, num, sizeof num), unit ? " " : "",
			 unit ? unit : "");
	cli_table_row(t, cli_jtime(ev, active ? "raised_ts" : "ts", t1), cli_jstr(ev, "state"),
		      cli_jstr(ev, "severity"), cli_jstr(ev, "category"), cli_jstr(ev, "alarm"),
		      json_is_true(json_object_get(ev, "acked")) ? "yes" : "no", v,
		      cli_jstr(ev, "message"));
}

int cli_alarms(struct cli *c)
{
	struct cli_table t = { .ncols = 8, .align = "llllllrl" };
	struct query_event *rows;
	json_t *arr = NULL;
	size_t n;
	int rc = query_alarms(c->q, c->active, c->has_since ? c->since : INT64_MIN, &rows, &n);

	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	if (c->json)
		arr = json_array();
	else
		cli_table_row(&t, c->active ? "RAISED" : "TS", "STATE", "SEVERITY", "CATEGORY", "ALARM",
			      "ACKED", "VALUE", "MESSAGE");
	for (size_t i = 0; i < n; i++) {
		json_error_t err;
		json_t *ev = query_json_event(&rows[i], &err);

		if (!ev) {
			fprintf(stderr, "yardwatch: %s: skipped an unreadable alarm event: %s\n",
				c->path, err.text);
			continue;
		}
		if (c->json) {
			json_array_append_new(arr, ev);
			continue;
		}
		cli_alarm_row(&t, ev, c->active);
		json_decref(ev);
	}
	query_events_free(rows, n);
	return c->json ? cli_print_json(arr) : cli_table_print(&t);
}
