/*
 * store_fixture: what the store's unit tests share (test_store*.c): a
 * temporary directory, a second SQLite connection to check what the store
 * wrote, a config built in C (config.c's loader is not used), alarm events,
 * and the `yardwatch` command line run with popen, its JSON read with
 * SQLite's json functions. Asserts nothing itself: the tests CHECK.
 */
#include "store_fixture.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char tmpdir[256];
char cli_bin[1024];
sqlite3 *jdb;

void fx_init(const char *name)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-%s-XXXXXX", name);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
}

/* ---- helpers ------------------------------------------------------------ */

void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

/* A second connection for checking what the store wrote. */
sqlite3 *peek_open(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "cannot open %s\n", path);
		abort();
	}
	return db;
}

/* One integer from SQL (printf-style), -999999 on error or no row. */
int64_t q_int(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *s;
	int64_t v = -999999;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "bad SQL %s: %s\n", sql, sqlite3_errmsg(db));
		return v;
	}
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

double q_real(sqlite3 *db, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *s;
	double v = NAN;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return v;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_double(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* One text from SQL into BUF ("(null)" for NULL). */
char *q_text(sqlite3 *db, char *buf, size_t len, const char *fmt, ...)
{
	char sql[1024];
	sqlite3_stmt *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	snprintf(buf, len, "(error)");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return buf;
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, len, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(s);
	return buf;
}

void exec_sql(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "SQL %s: %s\n", sql, sqlite3_errmsg(db));
		abort();
	}
}

/* ---- a config built in C (config.c is not linked here) ------------------ */

static void add_point(struct device_cfg *d, const char *name, enum yw_type type, const char *unit,
		      double deadband, int max_interval_s)
{
	struct point_cfg *p = &d->points[d->npoints++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	p->table = type == TYPE_BOOL ? TABLE_COIL : TABLE_HOLDING;
	p->type = type;
	p->bit = -1;
	p->scale = 1;
	p->decimals_from = -1;
	snprintf(p->unit, sizeof p->unit, "%s", unit);
	p->deadband = deadband;
	p->store_max_interval_s = max_interval_s;
}

static void add_device(struct config *c, const char *id, int unit, bool enabled,
		       enum yw_category cat)
{
	struct device_cfg *d = &c->devices[c->ndevices++];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "%s", id);
	d->bus = 0;
	d->unit = unit;
	d->poll_ms = 1000;
	d->category = cat;
	d->enabled = enabled;
	d->offline_after = 3;
	d->offline_severity = SEV_MAJOR;
	d->max_read_regs = 125;
	d->points = calloc(4, sizeof *d->points);
	if (!d->points)
		abort();
}

/* Devices: 0 b3-pressure (pressure: float32 MPa deadband 0.01; dp: int16),
 * 1 b3-meter (energy: float32 kWh, max interval 60 s; relay: bool),
 * 2 b9-spare (disabled; x: int16). */
struct config *cfg_new(bool with_meter)
{
	struct config *c = calloc(1, sizeof *c);

	if (!c)
		abort();
	snprintf(c->site_id, sizeof c->site_id, "mangshi-hs07");
	snprintf(c->site_name, sizeof c->site_name, "Huashan Road compound 7");
	snprintf(c->gateway, sizeof c->gateway, "gw1");
	c->retention_days = 90;
	c->max_mb = 256;
	c->buses = calloc(1, sizeof *c->buses);
	c->devices = calloc(3, sizeof *c->devices);
	if (!c->buses || !c->devices)
		abort();
	c->nbuses = 1;
	snprintf(c->buses[0].id, sizeof c->buses[0].id, "lan");
	c->buses[0].type = BUS_TCP;
	c->buses[0].port = 502;

	add_device(c, "b3-pressure", 1, true, CAT_FIRE);
	snprintf(c->devices[0].location, sizeof c->devices[0].location, "Building 3 pump room");
	add_point(&c->devices[0], "pressure", TYPE_FLOAT32, "MPa", 0.01, 300);
	add_point(&c->devices[0], "dp", TYPE_INT16, "", 0, 300);
	if (with_meter) {
		add_device(c, "b3-meter", 2, true, CAT_POWER);
		add_point(&c->devices[1], "energy", TYPE_FLOAT32, "kWh", 0, 60);
		add_point(&c->devices[1], "relay", TYPE_BOOL, "", 0, 300);
	}
	add_device(c, "b9-spare", 9, false, CAT_SYSTEM);
	add_point(&c->devices[c->ndevices - 1], "x", TYPE_INT16, "", 0, 300);
	return c;
}

void cfg_free(struct config *c)
{
	for (size_t d = 0; d < c->ndevices; d++)
		free(c->devices[d].points);
	free(c->devices);
	free(c->buses);
	free(c);
}

struct store *open_cfg(const char *path, const struct config *cfg)
{
	struct store *st = NULL;
	if (store_open(path, &st) != 0 || !st) {
		fprintf(stderr, "store_open %s failed\n", path);
		abort();
	}
	if (store_configure(st, cfg) != 0) {
		fprintf(stderr, "store_configure failed\n");
		abort();
	}
	return st;
}

char *event_json(int64_t seq, const char *alarm, const char *state, const char *sev,
			const char *cat, int64_t ts, int64_t raised, double value)
{
	char t1[32], t2[32];
	char *j = malloc(1024);
	if (!j)
		abort();
	snprintf(j, 1024, "{\"event_id\":\"gw1-%lld\",\"seq\":%lld,\"alarm\":\"%s\",\"state\":\"%s\","
		 "\"severity\":\"%s\",\"category\":\"%s\",\"point\":null,\"device\":\"b3\","
		 "\"location\":null,\"value\":%.15g,\"unit\":null,\"threshold\":null,"
		 "\"message\":null,\"ts\":\"%s\",\"raised_ts\":\"%s\",\"acked\":false}",
		 (long long)seq, (long long)seq, alarm, state, sev, cat, value,
		 util_fmt_time(ts, t1, sizeof t1), util_fmt_time(raised, t2, sizeof t2));
	return j;
}

int commit_ev(struct store *st, int64_t seq, const char *alarm, enum alarm_event ev,
	      enum yw_category cat, enum yw_severity sev, int64_t ts, bool active)
{
	struct alarm_state s = { .active = active, .acked = false, .cond = active,
				 .pending_since = -1, .raised_ts = ts, .value = 0.08 };
	char topic[128];
	char *j = event_json(seq, alarm, alarm_event_name(ev), config_severity_name(sev),
			     config_category_name(cat), ts, ts, 0.08);
	int r;

	snprintf(topic, sizeof topic, "yardwatch/mangshi-hs07/gw1/alarm/%s/%s",
		 config_category_name(cat), alarm);
	struct store_dest dest = { "mqtt", topic };
	r = store_commit_event(st, seq, alarm, ev, cat, sev, ts, j, &s, &dest, 1);
	free(j);
	return r;
}

/* NDEV enabled devices d000.. of NPTS float32 points p0.. each (deadband 0,
 * max interval 300 s); otherwise as cfg_new. */
struct config *cfg_many(int ndev, int npts)
{
	struct config *c = cfg_new(false);

	for (size_t d = 0; d < c->ndevices; d++)
		free(c->devices[d].points);
	free(c->devices);
	c->devices = calloc((size_t)ndev, sizeof *c->devices);
	if (!c->devices)
		abort();
	c->ndevices = 0;
	for (int d = 0; d < ndev; d++) {
		char id[16];
		snprintf(id, sizeof id, "d%03d", d);
		add_device(c, id, d % 247 + 1, true, CAT_POWER);
		free(c->devices[d].points);
		c->devices[d].points = calloc((size_t)npts, sizeof *c->devices[d].points);
		if (!c->devices[d].points)
			abort();
		for (int p = 0; p < npts; p++) {
			char name[16];
			snprintf(name, sizeof name, "p%d", p);
			add_point(&c->devices[d], name, TYPE_FLOAT32, "V", 0, 300);
		}
	}
	return c;
}

/* ---- footprint ------------------------------------------------------------ */

int64_t footprint(const char *path, int64_t *wal)
{
	char p[PATH_MAX + 8];
	struct stat sb;
	int64_t w = 0, f = 0;

	if (stat(path, &sb) == 0)
		f = (int64_t)sb.st_size;
	snprintf(p, sizeof p, "%s-wal", path);
	if (stat(p, &sb) == 0)
		w = (int64_t)sb.st_size;
	if (wal)
		*wal = w;
	return f + w;
}

/* ---- the journal's views ------------------------------------------------- */

/* Count of PT's ('device.point') readings in VIEW. */
int64_t n_in(sqlite3 *db, const char *view, const char *point)
{
	return q_int(db, "SELECT count(*) FROM %s r JOIN points p ON p.id = r.point_id"
		     " WHERE p.device || '.' || p.point = '%s'", view, point);
}

/* The value stored at TS for 'device.point' PT is exactly V (NAN: NULL). */
bool value_is(sqlite3 *db, const char *pt, int64_t ts, double v)
{
	sqlite3_stmt *s;
	char sql[512];
	bool ok = false;

	snprintf(sql, sizeof sql, "SELECT value FROM readings_all r JOIN points p ON"
		 " p.id = r.point_id WHERE p.device || '.' || p.point = '%s' AND r.ts = %lld", pt,
		 (long long)ts);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return false;
	if (sqlite3_step(s) == SQLITE_ROW) {
		if (isnan(v))
			ok = sqlite3_column_type(s, 0) == SQLITE_NULL;
		else
			ok = sqlite3_column_type(s, 0) == SQLITE_FLOAT &&
			     memcmp(&(double){ sqlite3_column_double(s, 0) }, &v, sizeof v) == 0;
	}
	sqlite3_finalize(s);
	if (!ok)
		fprintf(stderr, "  %s at %lld: not %.17g\n", pt, (long long)ts, v);
	return ok;
}

/* ---- the command line ---------------------------------------------------- */

bool cli_init(void)
{
	const char *bin = getenv("YW_BIN");

	snprintf(cli_bin, sizeof cli_bin, "%s/yardwatch", bin ? bin : ".");
	if (!bin || access(cli_bin, X_OK) != 0) {
		fprintf(stderr, "%s: yardwatch binary not found (set YW_BIN to the build dir)\n",
			cli_bin);
		return false;
	}
	if (!jdb && sqlite3_open(":memory:", &jdb) != SQLITE_OK)
		abort();
	return true;
}

void fx_done(void)
{
	if (jdb)
		sqlite3_close(jdb);
	jdb = NULL;
	rm_tmpdir();
}

/* Run the CLI with ARGS (a shell fragment); stdout into *OUT (malloc'd).
 * Returns the exit status, -1 when it could not run. */
int run_cli(char **out, const char *fmt, ...)
{
	char args[3072], cmd[4608];
	size_t cap = 4096, n = 0, r;
	FILE *p;
	int status;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s/stderr.txt'", cli_bin, args, tmpdir);
	*out = malloc(cap);
	if (!*out)
		abort();
	p = popen(cmd, "r");
	if (!p) {
		(*out)[0] = '\0';
		return -1;
	}
	while ((r = fread(*out + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (cap - n - 1 == 0) {
			cap *= 2;
			*out = realloc(*out, cap);
			if (!*out)
				abort();
		}
	}
	(*out)[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* json_extract(DOC, PATH) as text ("(null)" for JSON null / missing). */
char *jtext(const char *doc, const char *path, char *buf, size_t len)
{
	sqlite3_stmt *s;

	snprintf(buf, len, "(error)");
	if (sqlite3_prepare_v2(jdb, "SELECT json_extract(?1, ?2)", -1, &s, NULL) != SQLITE_OK)
		return buf;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, len, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(s);
	return buf;
}

bool jis(const char *doc, const char *path, const char *want)
{
	char buf[512];
	jtext(doc, path, buf, sizeof buf);
	if (strcmp(buf, want) != 0) {
		fprintf(stderr, "  %s: got '%s', want '%s'\n", path, buf, want);
		return false;
	}
	return true;
}

double jnum(const char *doc, const char *path)
{
	char buf[64];
	return atof(jtext(doc, path, buf, sizeof buf));
}

/* json_type(DOC, PATH): null, true, false, integer, real, text, array, object. */
bool jtype(const char *doc, const char *path, const char *want)
{
	sqlite3_stmt *s;
	bool ok = false;

	if (sqlite3_prepare_v2(jdb, "SELECT json_valid(?1), json_type(?1, ?2)", -1, &s, NULL) !=
	    SQLITE_OK)
		return false;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 1) {
		const unsigned char *t = sqlite3_column_text(s, 1);
		ok = t && strcmp((const char *)t, want) == 0;
		if (!ok)
			fprintf(stderr, "  type of %s: got '%s', want '%s'\n", path,
				t ? (const char *)t : "(missing)", want);
	}
	sqlite3_finalize(s);
	return ok;
}

int64_t jlen(const char *doc, const char *path)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(jdb, "SELECT json_array_length(?1, ?2)", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* The number of keys of the object at PATH. */
int64_t jkeys(const char *doc, const char *path)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(jdb, "SELECT count(*) FROM json_each(?1, ?2)", -1, &s, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}
