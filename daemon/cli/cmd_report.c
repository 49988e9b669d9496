/*
 * cmd_report: the maintenance report of a period (default the last 7
 * days): per device availability, polls, failed requests by kind and the
 * longest outage; the alarms raised by category and by severity.
 */
#include <stdio.h>

#include "../store/query_json.h"
#include "cli.h"
#include "output.h"

/* "  by category fire 1, water 2" (the non-zero counts) or "... none".
 * COUNTS by enum yw_category (BY_CATEGORY) or enum yw_severity. */
static void cli_counts_line(const char *title, const int64_t *counts, bool by_category)
{
	int n = by_category ? QUERY_NCATEGORIES : QUERY_NSEVERITIES;
	bool any = false;

	printf("  %-12s", title);
	for (int i = 0; i < n; i++) {
		if (counts[i] == 0)
			continue;
		printf("%s%s %lld", any ? ", " : "",
		       by_category ? config_category_name((enum yw_category)i) :
		       config_severity_name((enum yw_severity)i), (long long)counts[i]);
		any = true;
	}
	puts(any ? "" : "none");
}

static int cli_report_table(const struct query_report *r)
{
	struct cli_table t = { .ncols = 9, .align = "lrrrrrrrr" };
	char t1[CLI_TIME_LEN], t2[CLI_TIME_LEN];

	cli_table_row(&t, "DEVICE", "AVAILABILITY", "POLLS", "TIMEOUTS", "EXCEPTIONS", "CRC", "GATEWAY",
		      "OTHER", "LONGEST OUTAGE");
	for (size_t i = 0; i < r->ndevices; i++) {
		const struct query_report_device *d = &r->devices[i];
		char p[16] = "-", cnt[6][24], dur[32];

		if (d->has_availability)
			snprintf(p, sizeof p, "%.2f %%", d->availability_pct);
		snprintf(cnt[0], sizeof cnt[0], "%lld", (long long)d->polls);
		snprintf(cnt[1], sizeof cnt[1], "%lld", (long long)d->timeouts);
		snprintf(cnt[2], sizeof cnt[2], "%lld", (long long)d->exceptions);
		snprintf(cnt[3], sizeof cnt[3], "%lld", (long long)d->crc);
		snprintf(cnt[4], sizeof cnt[4], "%lld", (long long)d->gateway);
		snprintf(cnt[5], sizeof cnt[5], "%lld", (long long)d->other);
		cli_table_row(&t, d->id, p, cnt[0], cnt[1], cnt[2], cnt[3], cnt[4], cnt[5],
			      d->longest_outage_ms ?
			      cli_fmt_duration(d->longest_outage_ms, dur, sizeof dur) : "-");
	}
	printf("maintenance report %s .. %s\n\n", cli_time(r->since, t1), cli_time(r->until, t2));
	if (cli_table_print(&t) != CLI_EX_OK)
		return CLI_EX_FAIL;
	printf("\nalarms raised\n");
	cli_counts_line("by category", r->by_category, true);
	cli_counts_line("by severity", r->by_severity, false);
	return CLI_EX_OK;
}

int cli_report(struct cli *c)
{
	struct query_report r;
	int rc = query_report(c->q, c->since, c->until, &r), ret;

	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	ret = c->json ? cli_print_json(query_json_report(&r)) : cli_report_table(&r);
	query_report_free(&r);
	return ret;
}
