/*
 * yardwatch: the operator's command line (SPEC "yardwatch (command line)").
 * It opens the store read-only (WAL: it reads while the daemon writes), runs
 * one command inside one read transaction (a consistent snapshot) and prints
 * a table for people or, with --json, one JSON document for scripts.
 *
 * Exit codes: 0 ok, 64 bad usage (unknown command or option, bad time),
 * 66 no such store / device / point (also: the config file named by -c does
 * not exist), 1 anything else (an invalid config, a store of another schema
 * version, an SQLite error).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"
#include "version.h"

#define CLI_EX_OK 0
#define CLI_EX_FAIL 1
#define CLI_EX_USAGE 64
#define CLI_EX_NOINPUT 66

#define CLI_DEFAULT_CONFIG "/etc/yardwatch/yardwatch.json"
#define CLI_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define CLI_TIME_LEN 32
#define CLI_DAY_MS 86400000LL

enum {
	OPT_ACTIVE = 1 << 0,
	OPT_SINCE = 1 << 1,
	OPT_UNTIL = 1 << 2,
	OPT_CSV = 1 << 3,
};

struct cli {
	sqlite3 *db;
	char path[YW_PATH_MAX];
	bool json, csv, active;
	bool has_since, has_until;
	int64_t now, since, until;
	const char *arg;          /* DEVICE (points) or POINT (history) */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c);
	unsigned opts;
	int min_args, max_args;
};

static const char cli_usage_text[] =
	"usage: yardwatch [-c FILE | --db PATH] COMMAND [--json] ...\n"
	"  status                         gateway summary: store, devices online/total, active alarms, outbox\n"
	"  devices                        one row per device: id, bus, unit, state, last_ok, polls, errors\n"
	"  points [DEVICE]                one row per point: id, latest stored value, unit, ts, quality\n"
	"  alarms [--active] [--since T]  alarm events (newest first) or the active alarms\n"
	"  history POINT [--since T] [--until T] [--csv]\n"
	"                                 stored readings of DEVICE.POINT, oldest first\n"
	"  report [--since T]             maintenance report (default since 7d)\n"
	"options:\n"
	"  -c FILE     the daemon's config, read for storage.path (default " CLI_DEFAULT_CONFIG ")\n"
	"  --db PATH   open the store at PATH\n"
	"  --json      one JSON document instead of a table\n"
	"  --help, --version\n"
	"T is an ISO-8601 time (2026-11-26T04:10:03Z, 2026-11-26) or a duration back from now\n"
	"(90s, 15m, 2h, 7d). Times are printed in RFC 3339 UTC with milliseconds.\n"
	"exit: 0 ok, 64 bad usage, 66 no such store / device / point, 1 other errors\n";

static int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("yardwatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\ntry 'yardwatch --help'\n", stderr);
	return CLI_EX_USAGE;
}

static int cli_db_error(struct cli *c, const char *what)
{
	fprintf(stderr, "yardwatch: %s: %s: %s\n", c->path, what, sqlite3_errmsg(c->db));
	return CLI_EX_FAIL;
}

static sqlite3_stmt *cli_prepare(struct cli *c, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
		cli_db_error(c, "query");
		return NULL;
	}
	return s;
}

static const char *cli_text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

static char *cli_time(int64_t ms, char *buf)
{
	return util_fmt_time(ms, buf, CLI_TIME_LEN);
}

/* ---- values ---- */

/* A stored value as a double fit for a table or CSV: float32 points carry
 * about 7 significant digits, so they are rounded to that (230.1, not
 * 230.100006103516). JSON keeps the stored value. */
static double cli_round_value(double v, const char *type)
{
	char buf[32];

	if (type && strcmp(type, "float32") == 0) {
		snprintf(buf, sizeof buf, "%.7g", v);
		return strtod(buf, NULL);
	}
	return v;
}

static json_t *cli_json_value(sqlite3_stmt *s, int col, const char *type)
{
	double v;

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return json_null();
	v = sqlite3_column_double(s, col);
	if (type && strcmp(type, "bool") == 0)
		return json_boolean(v != 0);
	return json_real(v);   /* as on MQTT: 5 -> 5.0; exact, not rounded like tables */
}

/* Text of a value: "" for NULL, true/false for bools. NUMERIC (CSV): 1/0
 * for bools and numbers not rounded. */
static char *cli_fmt_value(sqlite3_stmt *s, int col, const char *type, bool numeric,
			   char *buf, size_t len)
{
	double v;

	buf[0] = '\0';
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return buf;
	v = sqlite3_column_double(s, col);
	if (type && strcmp(type, "bool") == 0)
		snprintf(buf, len, "%s", v != 0 ? (numeric ? "1" : "true") : (numeric ? "0" : "false"));
	else
		snprintf(buf, len, "%.15g", numeric ? v : cli_round_value(v, type));
	return buf;
}

static json_t *cli_json_time(sqlite3_stmt *s, int col)
{
	char t[CLI_TIME_LEN];

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return json_null();
	return json_string(cli_time(sqlite3_column_int64(s, col), t));
}

static json_t *cli_json_text(sqlite3_stmt *s, int col)
{
	const char *t = cli_text(s, col);
	return t && *t ? json_string(t) : json_null();
}

/* "3d 4h", "5m 12s", "0s". */
static char *cli_fmt_duration(int64_t ms, char *buf, size_t len)
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

static int cli_print_json(json_t *root)
{
	int r;

	if (!root) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	r = json_dumpf(root, stdout, CLI_JSON_FLAGS);
	json_decref(root);
	if (r != 0) {
		fputs("yardwatch: cannot write the JSON output\n", stderr);
		return CLI_EX_FAIL;
	}
	putchar('\n');
	return CLI_EX_OK;
}

/* ---- tables for people ---- */

struct cli_table {
	size_t ncols, nrows, cap;
	const char *align;        /* per column: 'l' or 'r' */
	char **cells;             /* nrows * ncols, owned */
	bool oom;
};

static void cli_table_row(struct cli_table *t, ...)
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

static void cli_table_free(struct cli_table *t)
{
	if (t->cells)
		for (size_t i = 0; i < t->nrows * t->ncols; i++)
			free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

static int cli_table_print(struct cli_table *t)
{
	size_t width[16] = { 0 };
	int ret = CLI_EX_OK;

	if (t->oom) {
		fputs("yardwatch: out of memory\n", stderr);
		ret = CLI_EX_FAIL;
		goto out_free;
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols && i < 16; i++) {
			size_t n = strlen(t->cells[r * t->ncols + i]);
			if (n > width[i])
				width[i] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols && i < 16; i++) {
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

/* ---- status ---- */

static int64_t cli_file_size(const char *path, const char *suffix)
{
	char p[YW_PATH_MAX + 8];
	struct stat sb;

	snprintf(p, sizeof p, "%s%s", path, suffix);
	return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static int cli_status(struct cli *c)
{
	static const char sql[] =
		"SELECT (SELECT value FROM meta WHERE key = 'site'),"
		" (SELECT value FROM meta WHERE key = 'gateway'),"
		" (SELECT count(*) FROM devices WHERE state = 'online'),"
		" (SELECT count(*) FROM devices WHERE state <> 'removed'),"
		" (SELECT count(*) FROM alarm_state WHERE active = 1),"
		" (SELECT count(*) FROM outbox),"
		/* one seek per point in the archive; the journal is small */
		" (SELECT min(t) FROM (SELECT min(ts) AS t FROM journal_readings UNION ALL"
		"  SELECT (SELECT t0 FROM chunks c WHERE c.point_id = p.id ORDER BY t0 LIMIT 1)"
		"  FROM points p)),"
		" (SELECT max(t) FROM (SELECT max(ts) AS t FROM journal_readings UNION ALL"
		"  SELECT (SELECT t1 FROM chunks c WHERE c.point_id = p.id ORDER BY t0 DESC LIMIT 1)"
		"  FROM points p)),"
		" (SELECT value FROM meta WHERE key = 'site_name'),"
		" (SELECT value FROM meta WHERE key = 'created'),"
		" (SELECT value FROM meta WHERE key = 'opened')";
	sqlite3_stmt *s = cli_prepare(c, sql);
	int64_t bytes = cli_file_size(c->path, "") + cli_file_size(c->path, "-wal");
	int ret = CLI_EX_OK;

	if (!s)
		return CLI_EX_FAIL;
	if (sqlite3_step(s) != SQLITE_ROW) {
		ret = cli_db_error(c, "status");
		goto out_finalize;
	}
	if (c->json) {
		json_t *o = json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
				      "site", cli_json_text(s, 0),
				      "gateway", cli_json_text(s, 1),
				      "devices_online", (json_int_t)sqlite3_column_int64(s, 2),
				      "devices_total", (json_int_t)sqlite3_column_int64(s, 3),
				      "alarms_active", (json_int_t)sqlite3_column_int64(s, 4),
				      "outbox_depth", (json_int_t)sqlite3_column_int64(s, 5),
				      "db_bytes", (json_int_t)bytes,
				      "first_ts", cli_json_time(s, 6),
				      "last_ts", cli_json_time(s, 7));
		ret = cli_print_json(o);
		goto out_finalize;
	}

	char site[YW_TEXT_MAX * 2], devs[64], alarms[64], outbox[64], store[YW_PATH_MAX + 64];
	char readings[2 * CLI_TIME_LEN + 8], opened[CLI_TIME_LEN + 32], created[CLI_TIME_LEN];
	char t1[CLI_TIME_LEN], t2[CLI_TIME_LEN], dur[32];
	const char *name = cli_text(s, 8);
	struct cli_table t = { .ncols = 2, .align = "ll" };

	snprintf(site, sizeof site, "%s%s%s%s", cli_text(s, 0) ? cli_text(s, 0) : "-",
		 name && *name ? " (" : "", name && *name ? name : "", name && *name ? ")" : "");
	snprintf(devs, sizeof devs, "%lld online / %lld", (long long)sqlite3_column_int64(s, 2),
		 (long long)sqlite3_column_int64(s, 3));
	snprintf(alarms, sizeof alarms, "%lld active", (long long)sqlite3_column_int64(s, 4));
	snprintf(outbox, sizeof outbox, "%lld unsent", (long long)sqlite3_column_int64(s, 5));
	snprintf(store, sizeof store, "%s, %.1f MB", c->path, (double)bytes / (1024.0 * 1024.0));
	if (sqlite3_column_type(s, 6) == SQLITE_NULL)
		snprintf(readings, sizeof readings, "none");
	else
		snprintf(readings, sizeof readings, "%s .. %s", cli_time(sqlite3_column_int64(s, 6), t1),
			 cli_time(sqlite3_column_int64(s, 7), t2));
	if (sqlite3_column_type(s, 10) == SQLITE_NULL)
		snprintf(opened, sizeof opened, "-");
	else
		snprintf(opened, sizeof opened, "%s (%s ago)", cli_time(sqlite3_column_int64(s, 10), t1),
			 cli_fmt_duration(c->now - sqlite3_column_int64(s, 10), dur, sizeof dur));
	if (sqlite3_column_type(s, 9) == SQLITE_NULL)
		snprintf(created, sizeof created, "-");
	else
		cli_time(sqlite3_column_int64(s, 9), created);

	cli_table_row(&t, "site", site);
	cli_table_row(&t, "gateway", cli_text(s, 1));
	cli_table_row(&t, "devices", devs);
	cli_table_row(&t, "alarms", alarms);
	cli_table_row(&t, "outbox", outbox);
	cli_table_row(&t, "store", store);
	cli_table_row(&t, "created", created);
	cli_table_row(&t, "opened", opened);
	cli_table_row(&t, "readings", readings);
	ret = cli_table_print(&t);
out_finalize:
	sqlite3_finalize(s);
	return ret;
}

/* ---- devices ---- */

static int cli_devices(struct cli *c)
{
	/* The counters of the devices table plus the polls still in the
	 * journal (folded into the table every few minutes). */
	sqlite3_stmt *s = cli_prepare(c, "SELECT d.id, d.bus, d.unit_id, d.state,"
		" CASE WHEN j.last_ok IS NOT NULL AND (d.last_ok IS NULL OR j.last_ok > d.last_ok)"
		"  THEN j.last_ok ELSE d.last_ok END,"
		" d.polls + coalesce(j.polls, 0), d.errors + coalesce(j.errors, 0)"
		" FROM devices d LEFT JOIN (SELECT num, count(*) AS polls,"
		"  sum(timeouts + exceptions + crc + other) AS errors,"
		"  max(CASE WHEN ok THEN ts END) AS last_ok FROM journal_polls GROUP BY num) j"
		"  ON j.num = d.num"
		" WHERE d.state <> 'removed' ORDER BY d.ord, d.id");
	struct cli_table t = { .ncols = 7, .align = "llrllrr" };
	json_t *arr = NULL;
	int rc, ret;

	if (!s)
		return CLI_EX_FAIL;
	if (c->json)
		arr = json_array();
	else
		cli_table_row(&t, "DEVICE", "BUS", "UNIT", "STATE", "LAST OK", "POLLS", "ERRORS");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (arr) {
			json_array_append_new(arr, json_pack("{s:s?, s:s?, s:I, s:s?, s:o, s:I, s:I}",
				"id", cli_text(s, 0), "bus", cli_text(s, 1),
				"unit_id", (json_int_t)sqlite3_column_int64(s, 2),
				"state", cli_text(s, 3), "last_ok", cli_json_time(s, 4),
				"polls", (json_int_t)sqlite3_column_int64(s, 5),
				"errors", (json_int_t)sqlite3_column_int64(s, 6)));
			continue;
		}
		char t1[CLI_TIME_LEN] = "-";
		if (sqlite3_column_type(s, 4) != SQLITE_NULL)
			cli_time(sqlite3_column_int64(s, 4), t1);
		cli_table_row(&t, cli_text(s, 0), cli_text(s, 1), cli_text(s, 2), cli_text(s, 3), t1,
			      cli_text(s, 5), cli_text(s, 6));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		cli_table_free(&t);
		return cli_db_error(c, "devices");
	}
	ret = arr ? cli_print_json(arr) : cli_table_print(&t);
	return ret;
}

/* ---- points ---- */

static int cli_device_exists(struct cli *c, const char *id)
{
	sqlite3_stmt *s = cli_prepare(c, "SELECT 1 FROM devices WHERE id = ?1 AND state <> 'removed'");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	cli_db_error(c, "points");
	return -1;
}

static int cli_points(struct cli *c)
{
	/* The latest reading of each point: the newest of the journal's (small)
	 * and the last one of its last chunk (one seek). */
	static const char sql[] =
		"WITH j AS (SELECT point_id, max(ts) AS ts, value, quality FROM journal_readings"
		"  GROUP BY point_id),"
		" a AS (SELECT r.point_id, r.ts, r.value, r.quality FROM points p"
		"  CROSS JOIN chunk_readings r ON r.point_id = p.id AND r.chunk_t0 ="
		"  (SELECT max(t0) FROM chunks WHERE point_id = p.id) AND r.pos = r.chunk_n - 1)"
		"SELECT p.device, p.point, p.type, p.unit, d.state,"
		" CASE WHEN j.ts >= coalesce(a.ts, j.ts) THEN j.ts ELSE a.ts END,"
		" CASE WHEN j.ts >= coalesce(a.ts, j.ts) THEN j.value ELSE a.value END,"
		" CASE WHEN j.ts >= coalesce(a.ts, j.ts) THEN j.quality ELSE a.quality END"
		" FROM points p JOIN devices d ON d.id = p.device"
		" LEFT JOIN j ON j.point_id = p.id LEFT JOIN a ON a.point_id = p.id"
		" WHERE p.removed = 0 AND d.state <> 'removed' AND (?1 IS NULL OR p.device = ?1)"
		" ORDER BY d.ord, d.id, p.ord, p.point";
	struct cli_table t = { .ncols = 5, .align = "lrlll" };
	sqlite3_stmt *s;
	json_t *arr = NULL;
	int rc;

	if (c->arg) {
		int e = cli_device_exists(c, c->arg);
		if (e < 0)
			return CLI_EX_FAIL;
		if (e == 0) {
			fprintf(stderr, "yardwatch: no such device: %s\n", c->arg);
			return CLI_EX_NOINPUT;
		}
	}
	if (!(s = cli_prepare(c, sql)))
		return CLI_EX_FAIL;
	if (c->arg)
		sqlite3_bind_text(s, 1, c->arg, -1, SQLITE_STATIC);
	if (c->json)
		arr = json_array();
	else
		cli_table_row(&t, "POINT", "VALUE", "UNIT", "TS", "QUALITY");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *dev = cli_text(s, 0), *pt = cli_text(s, 1), *type = cli_text(s, 2);
		const char *state = cli_text(s, 4);
		bool never = sqlite3_column_type(s, 5) == SQLITE_NULL;
		const char *q = never || !state || strcmp(state, "online") != 0 ?
			"stale" : point_quality_name((enum yw_quality)sqlite3_column_int(s, 7));
		char id[YW_FULLID_MAX];

		snprintf(id, sizeof id, "%s.%s", dev ? dev : "", pt ? pt : "");
		if (arr) {
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:s?, s:o, s:o, s:o, s:s}",
				"id", id, "device", dev, "point", pt,
				"value", cli_json_value(s, 6, type), "unit", cli_json_text(s, 3),
				"ts", cli_json_time(s, 5), "quality", q));
			continue;
		}
		char v[48], t1[CLI_TIME_LEN] = "-";
		cli_fmt_value(s, 6, type, false, v, sizeof v);
		if (!never)
			cli_time(sqlite3_column_int64(s, 5), t1);
		cli_table_row(&t, id, never ? "-" : *v ? v : "-", cli_text(s, 3), t1, q);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		cli_table_free(&t);
		return cli_db_error(c, "points");
	}
	return arr ? cli_print_json(arr) : cli_table_print(&t);
}

/* ---- alarms ---- */

static const char *cli_jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "-";
}

static void cli_alarm_row(struct cli_table *t, json_t *ev, bool active)
{
	json_t *val = json_object_get(ev, "value");
	const char *unit = json_string_value(json_object_get(ev, "unit"));
	char v[64] = "-";

	if (json_is_boolean(val))
		snprintf(v, sizeof v, "%s", json_is_true(val) ? "true" : "false");
	else if (json_is_number(val))
		snprintf(v, sizeof v, "%.7g%s%s", json_number_value(val), unit ? " " : "",
			 unit ? unit : "");
	cli_table_row(t, cli_jstr(ev, active ? "raised_ts" : "ts"), cli_jstr(ev, "state"),
		      cli_jstr(ev, "severity"), cli_jstr(ev, "category"), cli_jstr(ev, "alarm"),
		      json_is_true(json_object_get(ev, "acked")) ? "yes" : "no", v,
		      cli_jstr(ev, "message"));
}

static int cli_alarms(struct cli *c)
{
	const char *sql = c->active ?
		"SELECT last_event FROM alarm_state WHERE active = 1 AND raised_ts >= ?1"
		" ORDER BY raised_ts DESC, alarm" :
		"SELECT json FROM events WHERE ts >= ?1 ORDER BY seq DESC";
	struct cli_table t = { .ncols = 8, .align = "llllllrl" };
	sqlite3_stmt *s = cli_prepare(c, sql);
	json_t *arr = NULL;
	int rc;

	if (!s)
		return CLI_EX_FAIL;
	sqlite3_bind_int64(s, 1, c->has_since ? c->since : INT64_MIN);
	if (c->json)
		arr = json_array();
	else
		cli_table_row(&t, c->active ? "RAISED" : "TS", "STATE", "SEVERITY", "CATEGORY", "ALARM",
			      "ACKED", "VALUE", "MESSAGE");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *text = cli_text(s, 0);
		json_error_t err;
		json_t *ev = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &err);

		if (!json_is_object(ev)) {
			fprintf(stderr, "yardwatch: %s: skipped an unreadable alarm event: %s\n",
				c->path, err.text);
			json_decref(ev);
			continue;
		}
		if (arr) {
			json_array_append_new(arr, ev);
			continue;
		}
		cli_alarm_row(&t, ev, c->active);
		json_decref(ev);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		cli_table_free(&t);
		return cli_db_error(c, "alarms");
	}
	return arr ? cli_print_json(arr) : cli_table_print(&t);
}

/* ---- history ---- */

/* Print one history row (columns ts, value, quality of S). 0 / -1. */
static int cli_history_row(struct cli *c, sqlite3_stmt *s, const char *type, bool *first)
{
	char t1[CLI_TIME_LEN], v[48];
	const char *q = point_quality_name((enum yw_quality)sqlite3_column_int(s, 2));

	cli_time(sqlite3_column_int64(s, 0), t1);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:o, s:s}", "ts", t1,
				      "value", cli_json_value(s, 1, type), "quality", q);
		if (!o || (!*first && putchar(',') == EOF) ||
		    json_dumpf(o, stdout, CLI_JSON_FLAGS) != 0) {
			json_decref(o);
			fputs("yardwatch: cannot write the JSON output\n", stderr);
			return -1;
		}
		json_decref(o);
	} else if (c->csv) {
		printf("%s,%s,%s\n", t1, cli_fmt_value(s, 1, type, true, v, sizeof v), q);
	} else {
		cli_fmt_value(s, 1, type, false, v, sizeof v);
		printf("%-24s  %16s  %s\n", t1, *v ? v : "-", q);
	}
	*first = false;
	return 0;
}

static int cli_history(struct cli *c)
{
	const char *dot = strchr(c->arg, '.');
	sqlite3_stmt *s, *a = NULL, *j = NULL;
	char dev[YW_FULLID_MAX], type[16] = "";
	int64_t id;
	bool first = true;
	int rc, ra, rj, ret = CLI_EX_FAIL;

	if (!dot || dot == c->arg || strlen(c->arg) >= sizeof dev) {
		fprintf(stderr, "yardwatch: no such point: %s (want DEVICE.POINT)\n", c->arg);
		return CLI_EX_NOINPUT;
	}
	memcpy(dev, c->arg, (size_t)(dot - c->arg));
	dev[dot - c->arg] = '\0';
	if (!(s = cli_prepare(c, "SELECT id, type FROM points WHERE device = ?1 AND point = ?2")))
		return CLI_EX_FAIL;
	sqlite3_bind_text(s, 1, dev, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, dot + 1, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return cli_db_error(c, "history");
		fprintf(stderr, "yardwatch: no such point: %s\n", c->arg);
		return CLI_EX_NOINPUT;
	}
	id = sqlite3_column_int64(s, 0);
	util_strlcpy(type, cli_text(s, 1) ? cli_text(s, 1) : "", sizeof type);
	sqlite3_finalize(s);

	/* The archive's chunks of a point never overlap: in key order their
	 * readings come oldest first. The journal's (the last minutes, and
	 * readings after the clock was set back) are merged in; at equal times
	 * the journal's is the newer. */
	a = cli_prepare(c, "SELECT ts, value, quality FROM chunk_readings WHERE point_id = ?1"
			" AND chunk_t0 <= ?3 AND chunk_t1 >= ?2 AND ts >= ?2 AND ts <= ?3"
			" ORDER BY chunk_t0, pos");
	j = cli_prepare(c, "SELECT ts, value, quality FROM journal_readings WHERE point_id = ?1"
			" AND ts >= ?2 AND ts <= ?3 ORDER BY ts, seq, pos");
	if (!a || !j)
		goto out_finalize;
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *q = k ? j : a;
		sqlite3_bind_int64(q, 1, id);
		sqlite3_bind_int64(q, 2, c->has_since ? c->since : INT64_MIN);
		sqlite3_bind_int64(q, 3, c->has_until ? c->until : INT64_MAX);
	}

	/* Streamed: a history can be millions of rows. */
	if (c->csv)
		puts("ts,value,quality");
	else if (c->json)
		putchar('[');
	else
		printf("%-24s  %16s  %s\n", "TS", "VALUE", "QUALITY");
	ra = sqlite3_step(a);
	rj = sqlite3_step(j);
	while (ra == SQLITE_ROW || rj == SQLITE_ROW) {
		bool from_j = rj == SQLITE_ROW && (ra != SQLITE_ROW ||
			sqlite3_column_int64(j, 0) <= sqlite3_column_int64(a, 0));

		if (from_j && ra == SQLITE_ROW &&
		    sqlite3_column_int64(j, 0) == sqlite3_column_int64(a, 0))
			ra = sqlite3_step(a);
		if (cli_history_row(c, from_j ? j : a, type, &first) < 0)
			goto out_finalize;
		if (from_j)
			rj = sqlite3_step(j);
		else
			ra = sqlite3_step(a);
	}
	if (c->json)
		puts("]");
	if (ra != SQLITE_DONE || rj != SQLITE_DONE)
		cli_db_error(c, "history");
	else
		ret = CLI_EX_OK;
out_finalize:
	sqlite3_finalize(a);
	sqlite3_finalize(j);
	return ret;
}

/* ---- report ---- */

struct cli_avail {
	int64_t online_ms, offline_ms, longest_ms;
};

/* Walk DEVICE's state log over [since, until]. The state at SINCE is the
 * last transition at or before it; time in state -1 (not monitored: before
 * the device was first seen, while the daemon was stopped, while disabled)
 * counts neither way. An outage is a run of offline time; it is cut by the
 * period's ends and by unmonitored time. */
static int cli_availability(struct cli *c, const char *device, struct cli_avail *a)
{
	sqlite3_stmt *s;
	int state = -1, rc;
	int64_t t = c->since, run = 0;

	memset(a, 0, sizeof *a);
	if (!(s = cli_prepare(c, "SELECT online FROM device_log WHERE device = ?1 AND ts <= ?2"
			      " ORDER BY ts DESC, rowid DESC LIMIT 1")))
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, c->since);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		state = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cli_db_error(c, "report");
		return -1;
	}
	if (!(s = cli_prepare(c, "SELECT ts, online FROM device_log WHERE device = ?1"
			      " AND ts > ?2 AND ts <= ?3 ORDER BY ts, rowid")))
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, c->since);
	sqlite3_bind_int64(s, 3, c->until);
	for (;;) {
		rc = sqlite3_step(s);
		bool end = rc != SQLITE_ROW;
		int64_t ts = end ? c->until : sqlite3_column_int64(s, 0);
		int next = end ? -1 : sqlite3_column_int(s, 1);
		int64_t d = ts - t;

		if (state == 1)
			a->online_ms += d;
		else if (state == 0)
			a->offline_ms += d, run += d;
		if (state == 0 && next != 0) {
			if (run > a->longest_ms)
				a->longest_ms = run;
			run = 0;
		}
		if (end)
			break;
		state = next;
		t = ts;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cli_db_error(c, "report");
		return -1;
	}
	return 0;
}

struct cli_counts {
	int64_t polls, timeouts, exceptions, crc, other;
};

struct cli_jpolls {
	char id[YW_ID_MAX];
	struct cli_counts n;
};

/* The polls still in the journal, by device, in the hours overlapping
 * [since, until] (as the hourly buckets they will be folded into). *OUT
 * malloc'd. */
static int cli_journal_polls(struct cli *c, struct cli_jpolls **out, size_t *n)
{
	sqlite3_stmt *s = cli_prepare(c,
		"SELECT d.id, count(*), sum(jp.timeouts), sum(jp.exceptions), sum(jp.crc),"
		" sum(jp.other) FROM journal_polls jp JOIN devices d ON d.num = jp.num"
		" WHERE jp.ts - jp.ts % 3600000 > ?1 - 3600000 AND jp.ts - jp.ts % 3600000 <= ?2"
		" GROUP BY d.id");
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, c->since);
	sqlite3_bind_int64(s, 2, c->until);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cli_jpolls *j;
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			void *nn = realloc(*out, ncap * sizeof **out);
			if (!nn) {
				sqlite3_finalize(s);
				fputs("yardwatch: out of memory\n", stderr);
				return -1;
			}
			*out = nn;
			cap = ncap;
		}
		j = &(*out)[(*n)++];
		util_strlcpy(j->id, cli_text(s, 0) ? cli_text(s, 0) : "", sizeof j->id);
		j->n.polls = sqlite3_column_int64(s, 1);
		j->n.timeouts = sqlite3_column_int64(s, 2);
		j->n.exceptions = sqlite3_column_int64(s, 3);
		j->n.crc = sqlite3_column_int64(s, 4);
		j->n.other = sqlite3_column_int64(s, 5);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cli_db_error(c, "report");
		return -1;
	}
	return 0;
}

/* Hourly buckets overlapping [since, until], plus the journal's JP. */
static int cli_poll_counts(struct cli *c, const char *device, struct cli_counts *n,
			   const struct cli_jpolls *jp, size_t njp)
{
	sqlite3_stmt *s = cli_prepare(c,
		"SELECT coalesce(sum(polls), 0), coalesce(sum(timeouts), 0),"
		" coalesce(sum(exceptions), 0), coalesce(sum(crc), 0), coalesce(sum(other), 0)"
		" FROM device_stats WHERE device = ?1 AND hour > ?2 - 3600000 AND hour <= ?3");
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, c->since);
	sqlite3_bind_int64(s, 3, c->until);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		n->polls = sqlite3_column_int64(s, 0);
		n->timeouts = sqlite3_column_int64(s, 1);
		n->exceptions = sqlite3_column_int64(s, 2);
		n->crc = sqlite3_column_int64(s, 3);
		n->other = sqlite3_column_int64(s, 4);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		cli_db_error(c, "report");
		return -1;
	}
	for (size_t i = 0; i < njp; i++) {
		if (strcmp(jp[i].id, device) != 0)
			continue;
		n->polls += jp[i].n.polls;
		n->timeouts += jp[i].n.timeouts;
		n->exceptions += jp[i].n.exceptions;
		n->crc += jp[i].n.crc;
		n->other += jp[i].n.other;
	}
	return 0;
}

/* Counts of raised events in the period by COLUMN (category or severity),
 * every configured name present (0 when none). */
static json_t *cli_alarm_counts(struct cli *c, const char *column)
{
	char sql[200];
	sqlite3_stmt *s;
	json_t *o = json_object();
	bool by_cat = strcmp(column, "category") == 0;
	int rc;

	if (!o)
		return NULL;
	if (by_cat)
		for (int i = CAT_FIRE; i <= CAT_SYSTEM; i++)
			json_object_set_new(o, config_category_name((enum yw_category)i), json_integer(0));
	else
		for (int i = SEV_CRITICAL; i <= SEV_WARNING; i++)
			json_object_set_new(o, config_severity_name((enum yw_severity)i), json_integer(0));
	snprintf(sql, sizeof sql, "SELECT %s, count(*) FROM events WHERE state = 'raised'"
		 " AND ts >= ?1 AND ts <= ?2 GROUP BY 1", column);
	if (!(s = cli_prepare(c, sql))) {
		json_decref(o);
		return NULL;
	}
	sqlite3_bind_int64(s, 1, c->since);
	sqlite3_bind_int64(s, 2, c->until);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *k = cli_text(s, 0);
		if (k)
			json_object_set_new(o, k, json_integer((json_int_t)sqlite3_column_int64(s, 1)));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cli_db_error(c, "report");
		json_decref(o);
		return NULL;
	}
	return o;
}

static void cli_counts_line(const char *title, json_t *o)
{
	const char *k;
	json_t *v;
	bool any = false;

	printf("  %-12s", title);
	json_object_foreach(o, k, v) {
		if (json_integer_value(v) == 0)
			continue;
		printf("%s%s %lld", any ? ", " : "", k, (long long)json_integer_value(v));
		any = true;
	}
	puts(any ? "" : "none");
}

static int cli_report(struct cli *c)
{
	sqlite3_stmt *s = cli_prepare(c, "SELECT id FROM devices WHERE state <> 'removed'"
				      " ORDER BY ord, id");
	struct cli_table t = { .ncols = 8, .align = "lrrrrrrr" };
	json_t *devs = json_array(), *bycat = NULL, *bysev = NULL;
	char t1[CLI_TIME_LEN], t2[CLI_TIME_LEN];
	struct cli_jpolls *jp = NULL;
	size_t njp = 0;
	int rc, ret = CLI_EX_FAIL;

	if (!s || !devs || cli_journal_polls(c, &jp, &njp) < 0)
		goto out_free;
	cli_table_row(&t, "DEVICE", "AVAILABILITY", "POLLS", "TIMEOUTS", "EXCEPTIONS", "CRC", "OTHER",
		      "LONGEST OUTAGE");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *id = cli_text(s, 0);
		struct cli_avail a;
		struct cli_counts n = { 0 };
		json_t *pct = json_null();
		char p[16] = "-", cnt[5][24], dur[32];

		if (cli_availability(c, id, &a) < 0 || cli_poll_counts(c, id, &n, jp, njp) < 0)
			goto out_free;
		if (a.online_ms + a.offline_ms > 0) {
			double v = round(10000.0 * (double)a.online_ms /
					 (double)(a.online_ms + a.offline_ms)) / 100.0;
			pct = json_real(v);
			snprintf(p, sizeof p, "%.2f %%", v);
		}
		json_array_append_new(devs, json_pack("{s:s, s:o, s:I, s:{s:I, s:I, s:I, s:I}, s:I}",
			"id", id, "availability_pct", pct, "polls", (json_int_t)n.polls,
			"failures", "timeout", (json_int_t)n.timeouts,
			"exception", (json_int_t)n.exceptions, "crc", (json_int_t)n.crc,
			"other", (json_int_t)n.other,
			"longest_outage_s", (json_int_t)((a.longest_ms + 500) / 1000)));
		snprintf(cnt[0], sizeof cnt[0], "%lld", (long long)n.polls);
		snprintf(cnt[1], sizeof cnt[1], "%lld", (long long)n.timeouts);
		snprintf(cnt[2], sizeof cnt[2], "%lld", (long long)n.exceptions);
		snprintf(cnt[3], sizeof cnt[3], "%lld", (long long)n.crc);
		snprintf(cnt[4], sizeof cnt[4], "%lld", (long long)n.other);
		cli_table_row(&t, id, p, cnt[0], cnt[1], cnt[2], cnt[3], cnt[4],
			      a.longest_ms ? cli_fmt_duration(a.longest_ms, dur, sizeof dur) : "-");
	}
	if (rc != SQLITE_DONE) {
		cli_db_error(c, "report");
		goto out_free;
	}
	if (!(bycat = cli_alarm_counts(c, "category")) || !(bysev = cli_alarm_counts(c, "severity")))
		goto out_free;
	cli_time(c->since, t1);
	cli_time(c->until, t2);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s, s:O, s:{s:O, s:O}}", "since", t1, "until", t2,
				      "devices", devs, "alarms", "by_category", bycat,
				      "by_severity", bysev);
		ret = cli_print_json(o);
		goto out_free;
	}
	printf("maintenance report %s .. %s\n\n", t1, t2);
	if (cli_table_print(&t) != CLI_EX_OK)
		goto out_free;
	printf("\nalarms raised\n");
	cli_counts_line("by category", bycat);
	cli_counts_line("by severity", bysev);
	ret = CLI_EX_OK;
out_free:
	free(jp);
	cli_table_free(&t);
	sqlite3_finalize(s);
	json_decref(devs);
	json_decref(bycat);
	json_decref(bysev);
	return ret;
}

/* ---- opening the store ---- */

/* storage.path from the config FILE. */
static int cli_config_path(const char *file, char *out, size_t len)
{
	char *errs = NULL;
	size_t errlen = 0;
	FILE *ef;
	struct config *cfg;

	if (access(file, F_OK) != 0) {
		fprintf(stderr, "yardwatch: %s: %s (name the store with --db PATH)\n", file,
			strerror(errno));
		return CLI_EX_NOINPUT;
	}
	/* Warnings (e.g. a serial port not plugged in) are for the daemon. */
	ef = open_memstream(&errs, &errlen);
	if (!ef) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	cfg = config_load(file, NULL, ef);
	fclose(ef);
	if (!cfg) {
		fputs(errs ? errs : "", stderr);
		fprintf(stderr, "yardwatch: %s: invalid config (name the store with --db PATH)\n", file);
		free(errs);
		return CLI_EX_FAIL;
	}
	free(errs);
	util_strlcpy(out, cfg->storage_path, len);
	config_free(cfg);
	return CLI_EX_OK;
}

/* "file:PATH?immutable=1" with PATH escaped for a URI. */
static void cli_immutable_uri(const char *path, char *out, size_t len)
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
static int cli_user_version(sqlite3 *db, int64_t *version)
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

static int cli_open(struct cli *c)
{
	struct stat sb;
	char wal[YW_PATH_MAX + 8];
	int64_t version = 0;
	int rc;

	if (stat(c->path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, "yardwatch: %s: no such store\n", c->path);
		return CLI_EX_NOINPUT;
	}
	rc = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "yardwatch: %s: cannot open: %s\n", c->path,
			c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return CLI_EX_FAIL;
	}
	sqlite3_busy_timeout(c->db, 2000);
	rc = cli_user_version(c->db, &version);
	snprintf(wal, sizeof wal, "%s-wal", c->path);
	if ((rc & 0xff) == SQLITE_READONLY && access(wal, F_OK) != 0) {
		/* A WAL store with no -wal/-shm (stopped daemon, copied file) in a
		 * directory we may not write: nobody writes it, so read it as an
		 * immutable file. */
		char uri[3 * YW_PATH_MAX + 32];
		cli_immutable_uri(c->path, uri, sizeof uri);
		sqlite3_close(c->db);
		c->db = NULL;
		rc = sqlite3_open_v2(uri, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
		if (rc == SQLITE_OK)
			rc = cli_user_version(c->db, &version);
	}
	if (rc != SQLITE_OK) {
		int code = c->db ? sqlite3_errcode(c->db) : rc;
		fprintf(stderr, "yardwatch: %s: %s: %s\n", c->path,
			code == SQLITE_NOTADB ? "not a yardwatch store" : "cannot read",
			c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return code == SQLITE_NOTADB ? CLI_EX_NOINPUT : CLI_EX_FAIL;
	}
	if (version == 0) {
		fprintf(stderr, "yardwatch: %s: not a yardwatch store (no schema: has yardwatchd "
			"run with this storage.path?)\n", c->path);
		return CLI_EX_NOINPUT;
	}
	if (version > STORE_SCHEMA_VERSION) {
		fprintf(stderr, "yardwatch: %s: store schema version %lld is newer than this "
			"yardwatch understands (%d); use the yardwatch of the running yardwatchd\n",
			c->path, (long long)version, STORE_SCHEMA_VERSION);
		return CLI_EX_FAIL;
	}
	if (version < STORE_SCHEMA_VERSION) {
		fprintf(stderr, "yardwatch: %s: store schema version %lld is older than this "
			"yardwatch's (%d); start yardwatchd once to migrate it\n", c->path,
			(long long)version, STORE_SCHEMA_VERSION);
		return CLI_EX_FAIL;
	}
	/* One read transaction: every query of the command sees one snapshot. */
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return cli_db_error(c, "begin");
	return CLI_EX_OK;
}

/* ---- command line ---- */

static const struct cli_cmd cli_cmds[] = {
	{ "status", cli_status, 0, 0, 0 },
	{ "devices", cli_devices, 0, 0, 0 },
	{ "points", cli_points, 0, 0, 1 },
	{ "alarms", cli_alarms, OPT_ACTIVE | OPT_SINCE, 0, 0 },
	{ "history", cli_history, OPT_SINCE | OPT_UNTIL | OPT_CSV, 1, 1 },
	{ "report", cli_report, OPT_SINCE, 0, 0 },
};

static int cli_time_arg(struct cli *c, const char *opt, const char *v, int64_t *out)
{
	if (util_parse_time(v, c->now, out) != 0)
		return cli_usage_error("%s: bad time '%s' (want an ISO-8601 time like "
				       "2026-11-26T04:10:03Z or a duration like 90s, 15m, 2h, 7d)",
				       opt, v);
	return CLI_EX_OK;
}

/* "--opt VALUE" or "--opt=VALUE"; *I advanced past what was used. NULL when
 * ARG is not OPT. */
static const char *cli_opt_value(int argc, char **argv, int *i, const char *opt, bool *missing)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];

	*missing = false;
	if (strncmp(a, opt, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

static int cli_parse_cmd(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, int i)
{
	int nargs = 0, r;

	for (; i < argc; i++) {
		const char *a = argv[i], *v;
		bool missing;

		if (strcmp(a, "--json") == 0) {
			c->json = true;
		} else if ((cmd->opts & OPT_ACTIVE) && strcmp(a, "--active") == 0) {
			c->active = true;
		} else if ((cmd->opts & OPT_CSV) && strcmp(a, "--csv") == 0) {
			c->csv = true;
		} else if ((cmd->opts & OPT_SINCE) &&
			   ((v = cli_opt_value(argc, argv, &i, "--since", &missing)) || missing)) {
			if (missing)
				return cli_usage_error("--since needs a time");
			if ((r = cli_time_arg(c, "--since", v, &c->since)) != CLI_EX_OK)
				return r;
			c->has_since = true;
		} else if ((cmd->opts & OPT_UNTIL) &&
			   ((v = cli_opt_value(argc, argv, &i, "--until", &missing)) || missing)) {
			if (missing)
				return cli_usage_error("--until needs a time");
			if ((r = cli_time_arg(c, "--until", v, &c->until)) != CLI_EX_OK)
				return r;
			c->has_until = true;
		} else if (a[0] == '-' && a[1] != '\0') {
			return cli_usage_error("%s: unknown option '%s'", cmd->name, a);
		} else {
			if (nargs >= cmd->max_args)
				return cli_usage_error("%s: unexpected argument '%s'", cmd->name, a);
			c->arg = a;
			nargs++;
		}
	}
	if (nargs < cmd->min_args)
		return cli_usage_error("%s: missing %s", cmd->name,
				       strcmp(cmd->name, "history") == 0 ? "POINT (DEVICE.POINT)" :
				       "argument");
	if (c->json && c->csv)
		return cli_usage_error("%s: --json and --csv exclude each other", cmd->name);
	return CLI_EX_OK;
}

static bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct cli c;
	const char *cfg_file = NULL, *db = NULL;
	const struct cli_cmd *cmd = NULL;
	int i, r;

	memset(&c, 0, sizeof c);
	c.now = util_wall_ms();
	if (cli_wants_help(argc, argv)) {
		fputs(cli_usage_text, stdout);
		return CLI_EX_OK;
	}
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		bool missing;

		if (strcmp(argv[i], "--version") == 0) {
			printf("yardwatch %s\n", YW_VERSION);
			return CLI_EX_OK;
		} else if ((v = cli_opt_value(argc, argv, &i, "-c", &missing)) || missing) {
			if (missing)
				return cli_usage_error("-c needs a config file");
			cfg_file = v;
		} else if ((v = cli_opt_value(argc, argv, &i, "--db", &missing)) || missing) {
			if (missing)
				return cli_usage_error("--db needs a path");
			db = v;
		} else if (strcmp(argv[i], "--json") == 0) {
			return cli_usage_error("--json goes after the command (yardwatch COMMAND --json)");
		} else {
			return cli_usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (cfg_file && db)
		return cli_usage_error("give either -c FILE or --db PATH, not both");
	if (i >= argc)
		return cli_usage_error("missing command");
	for (size_t k = 0; k < sizeof cli_cmds / sizeof cli_cmds[0]; k++)
		if (strcmp(argv[i], cli_cmds[k].name) == 0)
			cmd = &cli_cmds[k];
	if (!cmd)
		return cli_usage_error("unknown command '%s'", argv[i]);
	if ((r = cli_parse_cmd(&c, cmd, argc, argv, i + 1)) != CLI_EX_OK)
		return r;
	if (strcmp(cmd->name, "report") == 0) {
		c.until = c.now;
		if (!c.has_since)
			c.since = c.now - 7 * CLI_DAY_MS;
	}

	if (db)
		util_strlcpy(c.path, db, sizeof c.path);
	else if ((r = cli_config_path(cfg_file ? cfg_file : CLI_DEFAULT_CONFIG, c.path,
				      sizeof c.path)) != CLI_EX_OK)
		return r;
	r = cli_open(&c);
	if (r == CLI_EX_OK)
		r = cmd->run(&c);
	sqlite3_close(c.db);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "yardwatch: write error: %s\n", strerror(errno));
		return CLI_EX_FAIL;
	}
	return r;
}
