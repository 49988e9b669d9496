/*
 * output: tables, value and time text, and JSON printing for yardwatch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../jsonnum.h"
#include "../util.h"
#include "../../drivers/numfmt.h"
#include "../store/query_json.h"
#include "cli.h"
#include "output.h"

#define CLI_TABLE_MAXCOLS 16

/* ---- tables for people ---- */

void cli_table_row(struct cli_table *t, ...)
{
	va_list ap;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 32;
		char **nc = realloc(t->cells, ncap * t->ncols * sizeof *nc);
		if (!nc) {
			t->oom = true;
			return;
		}
		t->cells = nc;
		t->cap = ncap;
	}
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *v = va_arg(ap, const char *);
		char *d = strdup(v ? v : "-");
		if (!d)
			t->oom = true;
		t->cells[t->nrows * t->ncols + i] = d;
	}
	va_end(ap);
	t->nrows++;
}

void cli_table_free(struct cli_table *t)
{
	if (t->cells)
		for (size_t i = 0; i < t->nrows * t->ncols; i++)
			free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

int cli_table_print(struct cli_table *t)
{
	size_t width[CLI_TABLE_MAXCOLS] = { 0 };
	int ret = CLI_EX_OK;

	if (t->oom) {
		fputs("yardwatch: out of memory\n", stderr);
		ret = CLI_EX_FAIL;
		goto out_free;
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols && i < CLI_TABLE_MAXCOLS; i++) {
			size_t n = strlen(t->cells[r * t->ncols + i]);
			if (n > width[i])
				width[i] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols && i < CLI_TABLE_MAXCOLS; i++) {
			const char *v = t->cells[r * t->ncols + i];
			bool last = i + 1 == t->ncols;
			if (t->align[i] == 'r')
				printf("%*s%s", (int)width[i], v, last ? "" : "  ");
			else if (last)
				fputs(v, stdout);
			else
				printf("%-*s  ", (int)width[i], v);
		}
		putchar('\n');
	}
out_free:
	cli_table_free(t);
	return ret;
}

/* ---- JSON ---- */

int cli_dump_json(json_t *v)
{
	char *s = jsonnum_dumps(v, QUERY_JSON_FLAGS);
	int r = s && fputs(s, stdout) != EOF ? 0 : -1;

	free(s);
	return r;
}

int cli_print_json(json_t *root)
{
	int r;

	if (!root) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	r = cli_dump_json(root);
	json_decref(root);
	if (r != 0) {
		fputs("yardwatch: cannot write the JSON output\n", stderr);
		return CLI_EX_FAIL;
	}
	putchar('\n');
	return CLI_EX_OK;
}

/* ---- values and times ---- */

/* The one setting of how this run prints: tables are for people, in the
 * gateway's local time unless --utc. */
static bool cli_utc;

void cli_time_style(bool utc)
{
	cli_utc = utc;
	tzset();
}

char *cli_time(int64_t ms, char *buf)
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	long off, aoff;
	struct tm tm;
	int n;

	if (frac < 0) {
		frac += 1000;
		secs -= 1;
	}
	if (!(cli_utc ? gmtime_r(&secs, &tm) : localtime_r(&secs, &tm)))
		return util_fmt_time(ms, buf, CLI_TIME_LEN);   /* out of range: UTC */
	off = cli_utc ? 0 : tm.tm_gmtoff;
	aoff = off < 0 ? -off : off;
	n = snprintf(buf, CLI_TIME_LEN, "%04d-%02d-%02d %02d:%02d:%02d.%03d%c%02ld:%02ld",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, frac, off < 0 ? '-' : '+', aoff / 3600, aoff % 3600 / 60);
	/* an offset of seconds (local mean time, before time zones) keeps them */
	if (aoff % 60 != 0 && n > 0 && n < CLI_TIME_LEN)
		snprintf(buf + n, (size_t)(CLI_TIME_LEN - n), ":%02ld", aoff % 60);
	return buf;
}

char *cli_fmt_value(const struct query_reading *r, enum yw_type type, bool numeric, char *buf,
		    size_t len)
{
	buf[0] = '\0';
	if (!r->has_value)
		return buf;
	if (type == TYPE_BOOL)
		snprintf(buf, len, "%s", r->value != 0 ? (numeric ? "1" : "true") :
			 (numeric ? "0" : "false"));
	else
		numfmt_double(r->value, buf, len);
	return buf;
}

char *cli_fmt_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
	return buf;
}
