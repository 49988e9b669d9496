/*
 * output: how yardwatch prints: aligned tables for people, values and
 * times as text, one JSON document for scripts (the documents themselves
 * come from store/query_json.h).
 */
#ifndef YW_CLI_OUTPUT_H
#define YW_CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/query.h"

#define CLI_TIME_LEN 96
#define CLI_TIME_WIDTH 29   /* the text of cli_time(): "2026-11-26 12:10:03.123+08:00" */

/* A table: NCOLS columns aligned by ALIGN ('l' or 'r' per column, at most
 * 16), the cells copied in; an out-of-memory is reported when printed. */
struct cli_table {
	size_t ncols, nrows, cap;
	const char *align;
	char **cells;             /* nrows * ncols, owned */
	bool oom;
};

/* Append a row of NCOLS strings (NULL prints as "-"). */
void cli_table_row(struct cli_table *t, ...);
void cli_table_free(struct cli_table *t);
/* Print and free. CLI_EX_OK, or CLI_EX_FAIL (out of memory). */
int cli_table_print(struct cli_table *t);

/* Print ROOT (consumed; NULL: out of memory) and a newline. An exit code. */
int cli_print_json(json_t *root);
/* Print one JSON value without newline (for streamed arrays). 0 / -1. */
int cli_dump_json(json_t *v);

/* How tables print times, for this run: the gateway's local time (TZ, as
 * localtime_r gives it) or, UTC, UTC (--utc). Set once, after the command
 * line is parsed; local time until then. */
void cli_time_style(bool utc);
/* A time for a table, into BUF (CLI_TIME_LEN): "2026-11-26 12:10:03.123+08:00"
 * in local time with its offset, "2026-11-26 04:10:03.123+00:00" in UTC.
 * JSON and CSV take RFC 3339 UTC (util_fmt_time). */
char *cli_time(int64_t ms, char *buf);
/* A value as text: "" when none, true/false for bools (NUMERIC, for CSV:
 * 1/0), numbers as numfmt prints them (the same text as in the JSON). */
char *cli_fmt_value(const struct query_reading *r, enum yw_type type, bool numeric, char *buf,
		    size_t len);
/* "3d 4h", "5m 12s", "0s". */
char *cli_fmt_duration(int64_t ms, char *buf, size_t len);

#endif
