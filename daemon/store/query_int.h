/*
 * query_int: what the files of the query module (query.c, query_history.c,
 * query_report.c) share and nobody else sees: the handle and the helpers
 * that prepare statements, read columns and record errors.
 */
#ifndef YW_QUERY_INT_H
#define YW_QUERY_INT_H

#include <sqlite3.h>

#include "query.h"

struct query {
	sqlite3 *db;
	char path[YW_PATH_MAX];
	char err[YW_PATH_MAX + 512];
};

/* Record "FMT..." as the error; returns RC. */
int query_fail(struct query *q, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Record "PATH: WHAT: the SQLite message"; returns QUERY_ERROR. */
int query_db_fail(struct query *q, const char *what);
/* Prepare SQL; NULL after recording "PATH: query: ...". */
sqlite3_stmt *query_prepare(struct query *q, const char *sql);
/* Make room for one more element of SIZE bytes in *ARR (N used, *CAP
 * allocated). 0, or QUERY_ERROR after recording "out of memory". */
int query_grow(struct query *q, void **arr, size_t *cap, size_t n, size_t size);

/* Column COL as text, NULL for SQL NULL. */
const char *query_col_text(sqlite3_stmt *s, int col);
/* Column COL's text copied into BUF ("" for SQL NULL; truncated to LEN). */
void query_col_copy(sqlite3_stmt *s, int col, char *buf, size_t len);
/* Column COL as a time: QUERY_NO_TIME for NULL. */
int64_t query_col_time(sqlite3_stmt *s, int col);
/* Columns COL, COL+1, COL+2 as ts, value, quality. */
/* A reading (ts, value, quality) from columns COL.. of S. A float32 point's
 * value stored as float32 bits is given as the shortest decimal of that
 * float (numfmt_float_value): as the codec delivered it. */
void query_col_reading(sqlite3_stmt *s, int col, enum yw_type type, struct query_reading *r);

#endif
