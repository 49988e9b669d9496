/*
 * query: opening the store read-only, and the questions about the present
 * state: status, devices, points (their latest readings) and alarm events.
 * History is in query_history.c, the maintenance report in query_report.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store.h"
#include "../util.h"
#include "query_int.h"

#include "../../drivers/numfmt.h"

/* ---- SQL ---- */

static const char sql_status[] =
	"SELECT (SELECT value FROM meta WHERE key = 'site'),"
	"       (SELECT value FROM meta WHERE key = 'gateway'),"
	"       (SELECT count(*) FROM devices WHERE state = 'online'),"
	"       (SELECT count(*) FROM devices WHERE state <> 'removed'),"
	"       (SELECT count(*) FROM alarm_state WHERE active = 1),"
	"       (SELECT count(*) FROM outbox),"
	/* one seek per point in the archive; the journal is small */
	"       (SELECT min(t) FROM (SELECT min(ts) AS t FROM journal_readings"
	"                            UNION ALL"
	"                            SELECT (SELECT t0 FROM chunks c WHERE c.point_id = p.id"
	"                                    ORDER BY t0 LIMIT 1)"
	"                            FROM points p)),"
	"       (SELECT max(t) FROM (SELECT max(ts) AS t FROM journal_readings"
	"                            UNION ALL"
	"                            SELECT (SELECT t1 FROM chunks c WHERE c.point_id = p.id"
	"                                    ORDER BY t0 DESC LIMIT 1)"
	"                            FROM points p)),"
	"       (SELECT value FROM meta WHERE key = 'site_name'),"
	"       (SELECT value FROM meta WHERE key = 'created'),"
	"       (SELECT value FROM meta WHERE key = 'opened'),"
	"       (SELECT value FROM meta WHERE key = 'max_bytes')";

/* The counters of the devices table plus the polls still in the journal
 * (folded into the table every few minutes). */
static const char sql_devices[] =
	"SELECT d.id, d.bus, d.unit_id, d.state,"
	"       CASE WHEN j.last_ok IS NOT NULL AND (d.last_ok IS NULL OR j.last_ok > d.last_ok)"
	"            THEN j.last_ok ELSE d.last_ok END,"
	"       d.polls + coalesce(j.polls, 0),"
	"       d.errors + coalesce(j.errors, 0)"
	"  FROM devices d"
	"  LEFT JOIN (SELECT num, count(*) AS polls,"
	"                    sum(timeouts + exceptions + crc + other + gateway) AS errors,"
	"                    max(CASE WHEN ok THEN ts END) AS last_ok"
	"               FROM journal_polls GROUP BY num) j ON j.num = d.num"
	" WHERE d.state <> 'removed'"
	" ORDER BY d.ord, d.id";

static const char sql_device_exists[] =
	"SELECT 1 FROM devices WHERE id = ?1 AND state <> 'removed'";

/* The latest reading of each point: the newest of the journal's (small) and
 * the last one of its last chunk (one seek); and its device's last good
 * poll (as in sql_devices: the devices table up to the last fold, then the
 * journal's polls). */
static const char sql_points[] =
	"WITH j AS (SELECT point_id, max(ts) AS ts, value, quality"
	"             FROM journal_readings GROUP BY point_id),"
	"     a AS (SELECT r.point_id, r.ts, r.value, r.quality"
	"             FROM points p CROSS JOIN chunk_readings r"
	"               ON r.point_id = p.id"
	"              AND r.chunk_t0 = (SELECT max(t0) FROM chunks WHERE point_id = p.id)"
	"              AND r.pos = r.chunk_n - 1),"
	"     o AS (SELECT num, max(ts) AS last_ok FROM journal_polls WHERE ok GROUP BY num)"
	"SELECT p.device, p.point, p.type, p.unit, d.state,"
	"       CASE WHEN j.ts >= coalesce(a.ts, j.ts) THEN j.ts ELSE a.ts END,"
	"       CASE WHEN j.ts >= coalesce(a.ts, j.ts) THEN j.value ELSE a.value END,"
	"       CASE WHEN j.ts >= coalesce(a.ts, j.ts) THEN j.quality ELSE a.quality END,"
	"       max(coalesce(d.last_ok, o.last_ok), coalesce(o.last_ok, d.last_ok))"
	"  FROM points p JOIN devices d ON d.id = p.device"
	"  LEFT JOIN j ON j.point_id = p.id"
	"  LEFT JOIN a ON a.point_id = p.id"
	"  LEFT JOIN o ON o.num = d.num"
	" WHERE p.removed = 0 AND d.state <> 'removed' AND (?1 IS NULL OR p.device = ?1)"
	" ORDER BY d.ord, d.id, p.ord, p.point";

static const char sql_events[] =
	"SELECT alarm, seq, ts, json FROM events WHERE ts >= ?1 ORDER BY seq DESC";

static const char sql_active[] =
	"SELECT alarm, seq, raised_ts, last_event FROM alarm_state"
	" WHERE active = 1 AND raised_ts >= ?1"
	" ORDER BY raised_ts DESC, alarm";

/* ---- shared helpers (query_int.h) ---- */

int query_fail(struct query *q, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, sizeof q->err, fmt, ap);
	va_end(ap);
	return rc;
}

int query_db_fail(struct query *q, const char *what)
{
	return query_fail(q, QUERY_ERROR, "%s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

sqlite3_stmt *query_prepare(struct query *q, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(q->db, sql, -1, &s, NULL) != SQLITE_OK) {
		query_db_fail(q, "query");
		return NULL;
	}
	return s;
}

int query_grow(struct query *q, void **arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	na = realloc(*arr, ncap * size);
	if (!na)
		return query_fail(q, QUERY_ERROR, "out of memory");
	*arr = na;
	*cap = ncap;
	return 0;
}

const char *query_col_text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

void query_col_copy(sqlite3_stmt *s, int col, char *buf, size_t len)
{
	const char *t = query_col_text(s, col);
	util_strlcpy(buf, t ? t : "", len);
}

int64_t query_col_time(sqlite3_stmt *s, int col)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? QUERY_NO_TIME :
		sqlite3_column_int64(s, col);
}

void query_col_reading(sqlite3_stmt *s, int col, enum yw_type type, struct query_reading *r)
{
	r->ts = query_col_time(s, col);
	r->has_value = sqlite3_column_type(s, col + 1) != SQLITE_NULL;
	r->value = r->has_value ? sqlite3_column_double(s, col + 1) : 0;
	if (r->has_value && type == TYPE_FLOAT32 && (double)(float)r->value == r->value)
		r->value = numfmt_float_value((float)r->value);
	r->quality = (enum yw_quality)sqlite3_column_int(s, col + 2);
}

/* ---- opening ---- */

/* "file:PATH?immutable=1" with PATH escaped for a URI. */
static void query_immutable_uri(const char *path, char *out, size_t len)
{
	size_t k = (size_t)snprintf(out, len, "file:");

	for (const char *p = path; *p && k + 4 < len; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			k += (size_t)snprintf(out + k, len - k, "%%%02x", (unsigned char)*p);
		else
			out[k++] = *p;
	}
	snprintf(out + k, len - k, "?immutable=1");
}

/* PRAGMA user_version: 0 and *VERSION, or the SQLite error code. */
static int query_user_version(sqlite3 *db, int64_t *version)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*version = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	return rc == SQLITE_ROW ? 0 : sqlite3_extended_errcode(db);
}

/* Open Q->path and check its version: QUERY_OK or the failure recorded. */
static int query_connect(struct query *q)
{
	const char *path = q->path;
	struct stat sb;
	char wal[YW_PATH_MAX + 8];
	int64_t version = 0;
	int rc;

	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return query_fail(q, QUERY_NOT_FOUND, "%s: no such store", path);
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK)
		return query_fail(q, QUERY_ERROR, "%s: cannot open: %s", path,
				  q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(q->db, 2000);
	rc = query_user_version(q->db, &version);
	snprintf(wal, sizeof wal, "%s-wal", path);
	if ((rc & 0xff) == SQLITE_READONLY && access(wal, F_OK) != 0) {
		/* A WAL store with no -wal/-shm (stopped daemon, copied file) in a
		 * directory we may not write: nobody writes it, so read it as an
		 * immutable file. */
		char uri[3 * YW_PATH_MAX + 32];
		query_immutable_uri(path, uri, sizeof uri);
		sqlite3_close(q->db);
		q->db = NULL;
		rc = sqlite3_open_v2(uri, &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
		if (rc == SQLITE_OK)
			rc = query_user_version(q->db, &version);
	}
	if (rc != SQLITE_OK) {
		int code = q->db ? sqlite3_errcode(q->db) : rc;
		return query_fail(q, code == SQLITE_NOTADB ? QUERY_NOT_FOUND : QUERY_ERROR,
				  "%s: %s: %s", path,
				  code == SQLITE_NOTADB ? "not a yardwatch store" : "cannot read",
				  q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
	}
	if (version == 0)
		return query_fail(q, QUERY_NOT_FOUND, "%s: not a yardwatch store (no schema: has "
				  "yardwatchd run with this storage.path?)", path);
	if (version > STORE_SCHEMA_VERSION)
		return query_fail(q, QUERY_ERROR, "%s: store schema version %lld is newer than "
				  "this yardwatch understands (%d); use the yardwatch of the "
				  "running yardwatchd", path, (long long)version,
				  STORE_SCHEMA_VERSION);
	if (version < STORE_SCHEMA_VERSION)
		return query_fail(q, QUERY_ERROR, "%s: store schema version %lld is older than "
				  "this yardwatch's (%d); start yardwatchd once to migrate it",
				  path, (long long)version, STORE_SCHEMA_VERSION);
	return QUERY_OK;
}

int query_open(const char *path, struct query **out, char *err, size_t errlen)
{
	struct query *q = calloc(1, sizeof *q);
	int rc;

	*out = NULL;
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return QUERY_ERROR;
	}
	util_strlcpy(q->path, path, sizeof q->path);
	rc = query_connect(q);
	if (rc != QUERY_OK) {
		snprintf(err, errlen, "%s", q->err);
		query_close(q);
		return rc;
	}
	*out = q;
	return QUERY_OK;
}

void query_close(struct query *q)
{
	if (!q)
		return;
	sqlite3_close(q->db);
	free(q);
}

const char *query_error(const struct query *q)
{
	return q->err;
}

int query_begin(struct query *q)
{
	if (sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return query_db_fail(q, "begin");
	return QUERY_OK;
}

void query_end(struct query *q)
{
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- status ---- */

static int64_t query_file_size(const char *path, const char *suffix)
{
	char p[YW_PATH_MAX + 8];
	struct stat sb;

	snprintf(p, sizeof p, "%s%s", path, suffix);
	return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static char *query_col_dup(sqlite3_stmt *s, int col, bool *oom)
{
	const char *t = query_col_text(s, col);
	char *d = t ? strdup(t) : NULL;

	if (t && !d)
		*oom = true;
	return d;
}

int query_status(struct query *q, struct query_status *out)
{
	sqlite3_stmt *s = query_prepare(q, sql_status);
	bool oom = false;
	int ret = QUERY_OK;

	memset(out, 0, sizeof *out);
	out->wal_bytes = query_file_size(q->path, "-wal");
	out->db_bytes = query_file_size(q->path, "") + out->wal_bytes;
	if (!s)
		return QUERY_ERROR;
	if (sqlite3_step(s) != SQLITE_ROW) {
		ret = query_db_fail(q, "status");
		goto out_finalize;
	}
	out->site = query_col_dup(s, 0, &oom);
	out->gateway = query_col_dup(s, 1, &oom);
	out->site_name = query_col_dup(s, 8, &oom);
	out->devices_online = sqlite3_column_int64(s, 2);
	out->devices_total = sqlite3_column_int64(s, 3);
	out->alarms_active = sqlite3_column_int64(s, 4);
	out->outbox_depth = sqlite3_column_int64(s, 5);
	out->first_ts = query_col_time(s, 6);
	out->last_ts = query_col_time(s, 7);
	out->created = query_col_time(s, 9);
	out->opened = query_col_time(s, 10);
	out->max_bytes = sqlite3_column_type(s, 11) == SQLITE_NULL ? -1 :
		sqlite3_column_int64(s, 11);
	if (oom) {
		query_status_free(out);
		ret = query_fail(q, QUERY_ERROR, "out of memory");
	}
out_finalize:
	sqlite3_finalize(s);
	return ret;
}

void query_status_free(struct query_status *s)
{
	free(s->site);
	free(s->site_name);
	free(s->gateway);
	s->site = s->site_name = s->gateway = NULL;
}

/* ---- devices ---- */

int query_devices(struct query *q, struct query_device **rows, size_t *n)
{
	sqlite3_stmt *s = query_prepare(q, sql_devices);
	size_t cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (!s)
		return QUERY_ERROR;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct query_device *d;

		if (query_grow(q, (void **)rows, &cap, *n, sizeof **rows) != 0)
			goto out_fail;
		d = &(*rows)[(*n)++];
		query_col_copy(s, 0, d->id, sizeof d->id);
		query_col_copy(s, 1, d->bus, sizeof d->bus);
		d->unit_id = sqlite3_column_int64(s, 2);
		query_col_copy(s, 3, d->state, sizeof d->state);
		d->last_ok = query_col_time(s, 4);
		d->polls = sqlite3_column_int64(s, 5);
		d->errors = sqlite3_column_int64(s, 6);
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		return QUERY_OK;
	}
	query_db_fail(q, "devices");
out_fail:
	sqlite3_finalize(s);
	free(*rows);
	*rows = NULL;
	*n = 0;
	return QUERY_ERROR;
}

/* ---- points ---- */

/* 1 when DEVICE exists and is not removed, 0 when not, QUERY_ERROR. */
static int query_device_exists(struct query *q, const char *device)
{
	sqlite3_stmt *s = query_prepare(q, sql_device_exists);
	int rc;

	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return query_db_fail(q, "points");
}

/*
 * When the latest stored reading was last confirmed by a read. The store
 * keeps a reading only when it differs from the last stored one (its value
 * by more than the deadband, or its quality) or store_max_interval_s has
 * passed; every good poll of a device reads all its points, and a device
 * that goes offline stores its points stale. So while the latest stored
 * reading of a point of an online device is good or bad (not stale), every
 * good poll of the device since then read the same quality and, for a good
 * one, a value within the deadband of the stored one: the reading was
 * confirmed at the device's last good poll, when that is later than the
 * reading. Anything else (stale, device not online, no good poll since)
 * keeps the reading's own time.
 */
static int64_t query_confirmed(const struct query_reading *r, bool online, int64_t last_ok)
{
	if (r->ts == QUERY_NO_TIME || !online || r->quality == Q_STALE ||
	    last_ok == QUERY_NO_TIME || last_ok <= r->ts)
		return r->ts;
	return last_ok;
}

static void query_point_row(sqlite3_stmt *s, struct query_point *p)
{
	const char *type = query_col_text(s, 2), *state = query_col_text(s, 4);
	int t = type ? point_name_index(point_type_names, POINT_NTYPES, type) : -1;
	bool online = state && strcmp(state, "online") == 0;

	query_col_copy(s, 0, p->device, sizeof p->device);
	query_col_copy(s, 1, p->point, sizeof p->point);
	snprintf(p->id, sizeof p->id, "%s.%s", p->device, p->point);
	query_col_copy(s, 3, p->unit, sizeof p->unit);
	p->type = t < 0 ? TYPE_FLOAT64 : (enum yw_type)t;
	query_col_reading(s, 5, p->type, &p->latest);
	p->stored_ts = p->latest.ts;
	p->latest.ts = query_confirmed(&p->latest, online, query_col_time(s, 8));
	if (p->latest.ts == QUERY_NO_TIME || !online)
		p->latest.quality = Q_STALE;
}

int query_points(struct query *q, const char *device, struct query_point **rows, size_t *n)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (device) {
		rc = query_device_exists(q, device);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return query_fail(q, QUERY_NOT_FOUND, "no such device: %s", device);
	}
	if (!(s = query_prepare(q, sql_points)))
		return QUERY_ERROR;
	if (device)
		sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (query_grow(q, (void **)rows, &cap, *n, sizeof **rows) != 0)
			goto out_fail;
		query_point_row(s, &(*rows)[(*n)++]);
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		return QUERY_OK;
	}
	query_db_fail(q, "points");
out_fail:
	sqlite3_finalize(s);
	free(*rows);
	*rows = NULL;
	*n = 0;
	return QUERY_ERROR;
}

/* ---- alarms ---- */

int query_alarms(struct query *q, bool active, int64_t since, struct query_event **rows,
		 size_t *n)
{
	sqlite3_stmt *s = query_prepare(q, active ? sql_active : sql_events);
	size_t cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (!s)
		return QUERY_ERROR;
	sqlite3_bind_int64(s, 1, since);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct query_event *e;
		const char *json = query_col_text(s, 3);

		if (query_grow(q, (void **)rows, &cap, *n, sizeof **rows) != 0)
			goto out_fail;
		e = &(*rows)[*n];
		query_col_copy(s, 0, e->alarm, sizeof e->alarm);
		e->seq = sqlite3_column_int64(s, 1);
		e->ts = sqlite3_column_int64(s, 2);
		if (!(e->json = strdup(json ? json : ""))) {
			query_fail(q, QUERY_ERROR, "out of memory");
			goto out_fail;
		}
		(*n)++;
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		return QUERY_OK;
	}
	query_db_fail(q, "alarms");
out_fail:
	sqlite3_finalize(s);
	query_events_free(*rows, *n);
	*rows = NULL;
	*n = 0;
	return QUERY_ERROR;
}

void query_events_free(struct query_event *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i].json);
	free(rows);
}

/* ---- the daemon's control socket ---- */

int query_control_socket(struct query *q, char *out, size_t len, bool *known)
{
	sqlite3_stmt *s = query_prepare(q, "SELECT value FROM meta WHERE key = 'control_socket'");
	int rc;

	*known = false;
	if (len)
		out[0] = '\0';
	if (!s)
		return QUERY_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(s, 0);
		*known = true;
		util_strlcpy(out, v ? (const char *)v : "", len);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QUERY_OK :
		query_db_fail(q, "control socket");
}
