/*
 * query_report: the maintenance report of a period: per device its
 * availability (from the device state log), longest outage, polls and
 * failed requests by kind (hourly buckets plus the journal's polls), and the
 * alarms raised in the period by category and by severity.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- SQL ---- */

static const char sql_devices[] =
	"SELECT id FROM devices WHERE state <> 'removed' ORDER BY ord, id";

/* ?1 device, ?2 since: the state at SINCE (the last change by then). */
static const char sql_state_at[] =
	"SELECT online FROM device_log WHERE device = ?1 AND ts <= ?2"
	" ORDER BY ts DESC, rowid DESC LIMIT 1";

/* ?1 device, ?2 since, ?3 until: the changes in the period. */
static const char sql_state_log[] =
	"SELECT ts, online FROM device_log WHERE device = ?1 AND ts > ?2 AND ts <= ?3"
	" ORDER BY ts, rowid";

/* The polls still in the journal, by device, in the hours overlapping
 * [?1, ?2] (as the hourly buckets they will be folded into). */
static const char sql_journal_polls[] =
	"SELECT d.id, count(*), sum(jp.timeouts), sum(jp.exceptions), sum(jp.crc), sum(jp.other),"
	"       sum(jp.gateway)"
	"  FROM journal_polls jp JOIN devices d ON d.num = jp.num"
	" WHERE jp.ts - jp.ts % 3600000 > ?1 - 3600000"
	"   AND jp.ts - jp.ts % 3600000 <= ?2"
	" GROUP BY d.id";

/* ?1 device: the hourly buckets overlapping [?2, ?3]. */
static const char sql_poll_buckets[] =
	"SELECT coalesce(sum(polls), 0), coalesce(sum(timeouts), 0), coalesce(sum(exceptions), 0),"
	"       coalesce(sum(crc), 0), coalesce(sum(other), 0), coalesce(sum(gateway), 0)"
	"  FROM device_stats WHERE device = ?1 AND hour > ?2 - 3600000 AND hour <= ?3";

static const char sql_by_category[] =
	"SELECT category, count(*) FROM events"
	" WHERE state = 'raised' AND ts >= ?1 AND ts <= ?2 GROUP BY 1";

static const char sql_by_severity[] =
	"SELECT severity, count(*) FROM events"
	" WHERE state = 'raised' AND ts >= ?1 AND ts <= ?2 GROUP BY 1";

/* ---- availability ---- */

/* Walk D's state log over [since, until]. The state at SINCE is the last
 * transition at or before it; time in state -1 (not monitored: before the
 * device was first seen, while the daemon was stopped, while disabled)
 * counts neither way. An outage is a run of offline time; it is cut by the
 * period's ends and by unmonitored time. */
static int query_availability(struct query *q, const struct query_report *r,
			      struct query_report_device *d)
{
	sqlite3_stmt *s;
	int state = -1, rc;
	int64_t t = r->since, run = 0;

	if (!(s = query_prepare(q, sql_state_at)))
		return QUERY_ERROR;
	sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->since);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		state = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return query_db_fail(q, "report");
	if (!(s = query_prepare(q, sql_state_log)))
		return QUERY_ERROR;
	sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->since);
	sqlite3_bind_int64(s, 3, r->until);
	for (;;) {
		rc = sqlite3_step(s);
		bool end = rc != SQLITE_ROW;
		int64_t ts = end ? r->until : sqlite3_column_int64(s, 0);
		int next = end ? -1 : sqlite3_column_int(s, 1);
		int64_t dt = ts - t;

		if (state == 1)
			d->online_ms += dt;
		else if (state == 0)
			d->offline_ms += dt, run += dt;
		if (state == 0 && next != 0) {
			if (run > d->longest_outage_ms)
				d->longest_outage_ms = run;
			run = 0;
		}
		if (end)
			break;
		state = next;
		t = ts;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return query_db_fail(q, "report");
	if (d->online_ms + d->offline_ms > 0) {
		d->has_availability = true;
		d->availability_pct = round(10000.0 * (double)d->online_ms /
					    (double)(d->online_ms + d->offline_ms)) / 100.0;
	}
	return QUERY_OK;
}

/* ---- polls and failures ---- */

static void query_add_counts(struct query_report_device *d, sqlite3_stmt *s, int col)
{
	d->polls += sqlite3_column_int64(s, col);
	d->timeouts += sqlite3_column_int64(s, col + 1);
	d->exceptions += sqlite3_column_int64(s, col + 2);
	d->crc += sqlite3_column_int64(s, col + 3);
	d->other += sqlite3_column_int64(s, col + 4);
	d->gateway += sqlite3_column_int64(s, col + 5);
}

static int query_poll_buckets(struct query *q, const struct query_report *r,
			      struct query_report_device *d)
{
	sqlite3_stmt *s = query_prepare(q, sql_poll_buckets);
	int rc;

	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->since);
	sqlite3_bind_int64(s, 3, r->until);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		query_add_counts(d, s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? QUERY_OK : query_db_fail(q, "report");
}

/* Add the journal's polls to the devices of R. */
static int query_journal_polls(struct query *q, struct query_report *r)
{
	sqlite3_stmt *s = query_prepare(q, sql_journal_polls);
	int rc;

	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_int64(s, 1, r->since);
	sqlite3_bind_int64(s, 2, r->until);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *id = query_col_text(s, 0);
		for (size_t i = 0; id && i < r->ndevices; i++)
			if (strcmp(r->devices[i].id, id) == 0)
				query_add_counts(&r->devices[i], s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? QUERY_OK : query_db_fail(q, "report");
}

/* ---- alarms ---- */

/* The raised events of the period by category (BY_CATEGORY) or severity
 * into COUNTS, indexed by the enum; names this program does not know are
 * left out. */
static int query_alarm_counts(struct query *q, const struct query_report *r, bool by_category,
			      int64_t *counts)
{
	sqlite3_stmt *s = query_prepare(q, by_category ? sql_by_category : sql_by_severity);
	int n = by_category ? QUERY_NCATEGORIES : QUERY_NSEVERITIES;
	int rc;

	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_int64(s, 1, r->since);
	sqlite3_bind_int64(s, 2, r->until);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *k = query_col_text(s, 0);
		for (int i = 0; k && i < n; i++)
			if (strcmp(by_category ? config_category_name((enum yw_category)i) :
				   config_severity_name((enum yw_severity)i), k) == 0)
				counts[i] = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? QUERY_OK : query_db_fail(q, "report");
}

/* ---- the report ---- */

static int query_report_devices(struct query *q, struct query_report *r)
{
	sqlite3_stmt *s = query_prepare(q, sql_devices);
	size_t cap = 0;
	int rc;

	if (!s)
		return QUERY_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (query_grow(q, (void **)&r->devices, &cap, r->ndevices, sizeof *r->devices) != 0) {
			sqlite3_finalize(s);
			return QUERY_ERROR;
		}
		memset(&r->devices[r->ndevices], 0, sizeof *r->devices);
		query_col_copy(s, 0, r->devices[r->ndevices].id, sizeof r->devices->id);
		r->ndevices++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? QUERY_OK : query_db_fail(q, "report");
}

int query_report(struct query *q, int64_t since, int64_t until, struct query_report *out)
{
	memset(out, 0, sizeof *out);
	out->since = since;
	out->until = until;
	if (query_report_devices(q, out) != QUERY_OK || query_journal_polls(q, out) != QUERY_OK)
		goto out_fail;
	for (size_t i = 0; i < out->ndevices; i++)
		if (query_availability(q, out, &out->devices[i]) != QUERY_OK ||
		    query_poll_buckets(q, out, &out->devices[i]) != QUERY_OK)
			goto out_fail;
	if (query_alarm_counts(q, out, true, out->by_category) != QUERY_OK ||
	    query_alarm_counts(q, out, false, out->by_severity) != QUERY_OK)
		goto out_fail;
	return QUERY_OK;
out_fail:
	query_report_free(out);
	return QUERY_ERROR;
}

void query_report_free(struct query_report *r)
{
	free(r->devices);
	r->devices = NULL;
	r->ndevices = 0;
}
