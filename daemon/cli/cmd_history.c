/*
 * cmd_history: the stored readings of one point, oldest first, as a table
 * (with the point's unit), CSV (ts,value,quality with a header line) or one
 * JSON array. With --since the first row is the value in force then: the
 * last reading stored before it, with its own time (unless a reading is at
 * --since itself), so a steady point never shows an empty window. Streamed
 * row by row: a history can be millions of rows.
 */
#include <stdio.h>
#include <string.h>

#include "../store/query_json.h"
#include "../util.h"
#include "cli.h"
#include "output.h"

/* Print one row. 0 / -1 (reported). UNIT_W: the width of the unit column. */
static int cli_history_row(struct cli *c, const struct query_reading *r, enum yw_type type,
			   const char *unit, int unit_w, bool *first)
{
	char t1[CLI_TIME_LEN], v[48];
	const char *q = point_quality_name(r->quality);

	if (c->json) {
		json_t *o = query_json_reading(r, type);
		if (!o || (!*first && putchar(',') == EOF) || cli_dump_json(o) != 0) {
			json_decref(o);
			fputs("yardwatch: cannot write the JSON output\n", stderr);
			return -1;
		}
		json_decref(o);
	} else if (c->csv) {
		printf("%s,%s,%s\n", util_fmt_time(r->ts, t1, sizeof t1),
		       cli_fmt_value(r, type, true, v, sizeof v), q);
	} else {
		cli_fmt_value(r, type, false, v, sizeof v);
		printf("%-*s  %16s  %-*s  %s\n", CLI_TIME_WIDTH, cli_time(r->ts, t1), *v ? v : "-",
		       unit_w, r->has_value ? unit : "-", q);
	}
	*first = false;
	return 0;
}

int cli_history(struct cli *c)
{
	struct query_history *h;
	struct query_reading r;
	const char *unit;
	bool first = true;
	int rc, ret = CLI_EX_FAIL, unit_w;

	if (c->has_since && c->has_until && c->since > c->until)
		return cli_usage_error("history: --since is after --until");
	rc = query_history_open(c->q, c->arg, c->has_since ? c->since : INT64_MIN,
				c->has_until ? c->until : INT64_MAX,
				c->has_since ? QUERY_HISTORY_IN_FORCE : 0, &h);
	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	unit = *query_history_unit(h) ? query_history_unit(h) : "-";
	unit_w = strlen(unit) > 4 ? (int)strlen(unit) : 4;
	if (c->csv)
		puts("ts,value,quality");
	else if (c->json)
		putchar('[');
	else
		printf("%-*s  %16s  %-*s  %s\n", CLI_TIME_WIDTH, "TS", "VALUE", unit_w, "UNIT",
		       "QUALITY");
	while ((rc = query_history_next(h, &r)) == 1)
		if (cli_history_row(c, &r, query_history_type(h), unit, unit_w, &first) < 0)
			goto out_close;
	if (c->json)
		puts("]");
	if (rc < 0)
		cli_query_fail(c, rc);
	else
		ret = CLI_EX_OK;
out_close:
	query_history_close(h);
	return ret;
}
