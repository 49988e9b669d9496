/*
 * query_history: the readings of one point over a period, oldest first, as
 * a cursor (a history can be millions of rows: nothing is gathered).
 *
 * The archive's chunks of a point never overlap: in key order their
 * readings come oldest first. The journal's (the last minutes, and readings
 * after the clock was set back) are merged in; at equal times the journal's
 * is the newer and wins.
 */
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- SQL ---- */

static const char sql_point[] =
	"SELECT id, type, unit FROM points WHERE device = ?1 AND point = ?2";

/* ?1 point id, ?2 since, ?3 until */
static const char sql_archive[] =
	"SELECT ts, value, quality FROM chunk_readings"
	" WHERE point_id = ?1 AND chunk_t0 <= ?3 AND chunk_t1 >= ?2"
	"   AND ts >= ?2 AND ts <= ?3"
	" ORDER BY chunk_t0, pos";

static const char sql_journal[] =
	"SELECT ts, value, quality FROM journal_readings"
	" WHERE point_id = ?1 AND ts >= ?2 AND ts <= ?3"
	" ORDER BY ts, seq, pos";

/* The last reading at or before ?2: in the last chunk that starts by then,
 * and in the journal. */
static const char sql_archive_before[] =
	"SELECT ts, value, quality FROM chunk_readings"
	" WHERE point_id = ?1"
	"   AND chunk_t0 = (SELECT max(t0) FROM chunks WHERE point_id = ?1 AND t0 <= ?2)"
	"   AND ts <= ?2"
	" ORDER BY pos DESC LIMIT 1";

static const char sql_journal_before[] =
	"SELECT ts, value, quality FROM journal_readings"
	" WHERE point_id = ?1 AND ts <= ?2"
	" ORDER BY ts DESC, seq DESC, pos DESC LIMIT 1";

struct query_history {
	struct query *q;
	sqlite3_stmt *a, *j;          /* archive, journal */
	int ra, rj;                   /* their last sqlite3_step() */
	enum yw_type type;
	char unit[YW_TEXT_MAX];       /* "" when none */
	bool has_first;               /* FIRST (the value in force) comes first */
	struct query_reading first;
};

/* The point's id, type and unit (into UNIT, YW_TEXT_MAX): 1, 0 when
 * unknown, QUERY_ERROR. */
static int query_point_id(struct query *q, const char *device, const char *point,
			  int64_t *id, enum yw_type *type, char *unit)
{
	sqlite3_stmt *s = query_prepare(q, sql_point);
	int rc, t;

	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, point, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *name = query_col_text(s, 1);
		t = name ? point_name_index(point_type_names, POINT_NTYPES, name) : -1;
		*id = sqlite3_column_int64(s, 0);
		*type = t < 0 ? TYPE_FLOAT64 : (enum yw_type)t;
		query_col_copy(s, 2, unit, YW_TEXT_MAX);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return query_db_fail(q, "history");
}

/* The reading of SQL (?1 ID, ?2 T) into R: 1, 0 when none, QUERY_ERROR. */
static int query_one_reading(struct query *q, const char *sql, int64_t id, int64_t t,
			     enum yw_type type, struct query_reading *r)
{
	sqlite3_stmt *s = query_prepare(q, sql);
	int rc;

	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, t);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		query_col_reading(s, 0, type, r);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return query_db_fail(q, "history");
}

/* The value in force at SINCE, when no reading is at SINCE itself. */
static int query_in_force(struct query_history *h, int64_t id, int64_t since)
{
	struct query_reading a, j;
	int ha = query_one_reading(h->q, sql_archive_before, id, since, h->type, &a);
	int hj = ha < 0 ? 0 : query_one_reading(h->q, sql_journal_before, id, since, h->type, &j);

	if (ha < 0 || hj < 0)
		return QUERY_ERROR;
	if (hj && (!ha || j.ts >= a.ts))
		a = j, ha = 1;
	if (ha && a.ts < since) {
		h->first = a;
		h->has_first = true;
	}
	return QUERY_OK;
}

int query_history_open(struct query *q, const char *point, int64_t since, int64_t until,
		       unsigned flags, struct query_history **out)
{
	const char *dot = strchr(point, '.');
	char dev[YW_FULLID_MAX];
	struct query_history *h;
	int64_t id = 0;
	enum yw_type type = TYPE_FLOAT64;
	char unit[YW_TEXT_MAX] = "";
	int rc;

	*out = NULL;
	if (!dot || dot == point || strlen(point) >= sizeof dev)
		return query_fail(q, QUERY_NOT_FOUND, "no such point: %s (want DEVICE.POINT)",
				  point);
	memcpy(dev, point, (size_t)(dot - point));
	dev[dot - point] = '\0';
	rc = query_point_id(q, dev, dot + 1, &id, &type, unit);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return query_fail(q, QUERY_NOT_FOUND, "no such point: %s", point);
	if (!(h = calloc(1, sizeof *h)))
		return query_fail(q, QUERY_ERROR, "out of memory");
	h->q = q;
	h->type = type;
	memcpy(h->unit, unit, sizeof h->unit);
	h->a = query_prepare(q, sql_archive);
	h->j = h->a ? query_prepare(q, sql_journal) : NULL;
	if (!h->a || !h->j)
		goto out_fail;
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *s = k ? h->j : h->a;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, since);
		sqlite3_bind_int64(s, 3, until);
	}
	if ((flags & QUERY_HISTORY_IN_FORCE) && since != INT64_MIN && since <= until &&
	    query_in_force(h, id, since) != QUERY_OK)
		goto out_fail;
	h->ra = sqlite3_step(h->a);
	h->rj = sqlite3_step(h->j);
	*out = h;
	return QUERY_OK;
out_fail:
	query_history_close(h);
	return QUERY_ERROR;
}

enum yw_type query_history_type(const struct query_history *h)
{
	return h->type;
}

const char *query_history_unit(const struct query_history *h)
{
	return h->unit;
}

int query_history_next(struct query_history *h, struct query_reading *r)
{
	bool from_j;

	if (h->has_first) {
		*r = h->first;
		h->has_first = false;
		return 1;
	}
	if (h->ra != SQLITE_ROW && h->rj != SQLITE_ROW) {
		if (h->ra != SQLITE_DONE || h->rj != SQLITE_DONE)
			return query_db_fail(h->q, "history");
		return 0;
	}
	from_j = h->rj == SQLITE_ROW && (h->ra != SQLITE_ROW ||
		 sqlite3_column_int64(h->j, 0) <= sqlite3_column_int64(h->a, 0));
	if (from_j && h->ra == SQLITE_ROW &&
	    sqlite3_column_int64(h->j, 0) == sqlite3_column_int64(h->a, 0))
		h->ra = sqlite3_step(h->a);
	if (from_j) {
		query_col_reading(h->j, 0, h->type, r);
		h->rj = sqlite3_step(h->j);
	} else {
		query_col_reading(h->a, 0, h->type, r);
		h->ra = sqlite3_step(h->a);
	}
	return 1;
}

void query_history_close(struct query_history *h)
{
	if (!h)
		return;
	sqlite3_finalize(h->a);
	sqlite3_finalize(h->j);
	free(h);
}
