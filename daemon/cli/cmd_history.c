/*
 * cmd_history: the stored readings of one point, oldest first, as a table,
 * CSV (ts,value,quality with a header line) or one JSON array. Streamed
 * row by row: a history can be millions of rows.
 */
#include <stdio.h>

#include "../store/query_json.h"
#include "cli.h"
#include "output.h"

/* Print one row. 0 / -1 (reported). */
static int cli_history_row(struct cli *c, const struct query_reading *r, enum yw_type type,
			   bool *first)
{
	char t1[CLI_TIME_LEN], v[48];
	const char *q = point_quality_name(r->quality);

	cli_time(r->ts, t1);
	if (c->json) {
		json_t *o = query_json_reading(r, type);
		if (!o || (!*first && putchar(',') == EOF) || cli_dump_json(o) != 0) {
			json_decref(o);
			fputs("yardwatch: cannot write the JSON output\n", stderr);
			return -1;
		}
		json_decref(o);
	} else if (c->csv) {
		printf("%s,%s,%s\n", t1, cli_fmt_value(r, type, true, v, sizeof v), q);
	} else {
		cli_fmt_value(r, type, false, v, sizeof v);
		printf("%-24s  %16s  %s\n", t1, *v ? v : "-", q);
	}
	*first = false;
	return 0;
}

int cli_history(struct cli *c)
{
	struct query_history *h;
	struct query_reading r;
	bool first = true;
	int rc, ret = CLI_EX_FAIL;

	rc = query_history_open(c->q, c->arg, c->has_since ? c->since : INT64_MIN,
				c->has_until ? c->until : INT64_MAX, 0, &h);
	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	if (c->csv)
		puts("ts,value,quality");
	else if (c->json)
		putchar('[');
	else
		printf("%-24s  %16s  %s\n", "TS", "VALUE", "QUALITY");
	while ((rc = query_history_next(h, &r)) == 1)
		if (cli_history_row(c, &r, query_history_type(h), &first) < 0)
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
