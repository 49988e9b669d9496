/*
 * test_store_cli: the `yardwatch` command line (status, devices, points,
 * history, alarms, report, their exit codes, tables in local time or UTC)
 * run with popen against a store filled through the store API while it is
 * still open (as while the daemon runs), and after it is closed. Its JSON
 * is read with SQLite's json functions (store_fixture). The binary is
 * $YW_BIN/yardwatch (ctest sets YW_BIN); the test fails when it is missing.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "store_fixture.h"

struct cli_fill {
	int64_t now;
	int64_t base;           /* first pressure reading */
};

/* The store the CLI cases read: see the comments for what the cases expect. */
static struct store *cli_fill_store(const char *path, struct config *cfg, struct cli_fill *f)
{
	struct store *st = open_cfg(path, cfg);
	int64_t now = util_wall_ms();

	f->now = now;
	f->base = now - HOUR;
	/* b3-pressure: 10 readings a minute apart, 0.30, 0.32, ... 0.48, as the
	 * codec decodes them (the nearest double to each decimal). */
	for (int i = 0; i < 10; i++)
		CHECK(store_put_reading(st, 0, 0, f->base + i * 60000LL, (30 + i * 2) / 100.0,
					Q_GOOD) == 1);
	CHECK(store_put_reading(st, 0, 1, f->base, 7, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 0, f->base - HOUR, 1234.5, Q_GOOD) == 1);
	CHECK(store_put_reading(st, 1, 1, f->base - HOUR, 1, Q_GOOD) == 1);

	/* b3-pressure: online from -20h, offline -6h .. -4h: 80 % of the last
	 * 10 h, longest outage 7200 s. */
	CHECK(store_device_state(st, 0, now - 20 * HOUR, true) == 0);
	CHECK(store_device_state(st, 0, now - 6 * HOUR, false) == 0);
	CHECK(store_device_state(st, 0, now - 4 * HOUR, true) == 0);
	struct store_poll p1 = { now - 30 * HOUR, true, 0, 0, 0, 5, 0 };     /* outside 10 h */
	struct store_poll p2 = { now - 5 * HOUR, false, 2, 0, 1, 0, 0 };
	struct store_poll p3 = { now - 3 * HOUR, true, 0, 1, 0, 0, 0 };
	struct store_poll p4 = { now - HOUR / 2, true, 0, 0, 0, 0, 0 };
	CHECK(store_device_poll(st, 0, &p1) == 0);
	CHECK(store_device_poll(st, 0, &p2) == 0);
	CHECK(store_device_poll(st, 0, &p3) == 0);
	CHECK(store_device_poll(st, 0, &p4) == 0);
	/* b3-meter: first seen going offline 2 h ago: 0 %, outage ~7200 s. */
	CHECK(store_device_state(st, 1, now - 2 * HOUR, false) == 0);

	/* Events: fire raised -5h, cleared -3h; meter offline raised -2h (active). */
	CHECK(commit_ev(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			now - 5 * HOUR, true) == 0);
	CHECK(commit_ev(st, 2, "b3-fire-pressure-low", ALARM_EV_CLEARED, CAT_FIRE, SEV_CRITICAL,
			now - 3 * HOUR, false) == 0);
	CHECK(commit_ev(st, 3, "b3-meter.offline", ALARM_EV_RAISED, CAT_SYSTEM, SEV_MAJOR,
			now - 2 * HOUR, true) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/b3-meter/status", "{}", 1, true) == 0);
	CHECK(store_flush(st) == 0);
	return st;
}

/* Plain runs of the command line: the exit status and what stdout must
 * hold. ARGS has one %s, for DB (the store the case reads), or none. */
struct cli_case {
	const char *args;
	const char *db;
	int rc;
	const char *has[2];
};

static void check_cli_cases(const char *path)
{
	char empty[PATH_MAX], newer[PATH_MAX];
	sqlite3 *db;
	FILE *fp;

	/* not a store; a store of a newer schema */
	path_of(empty, sizeof empty, "empty-for-cli.db");
	fp = fopen(empty, "w");
	if (fp)
		fclose(fp);
	path_of(newer, sizeof newer, "newer-for-cli.db");
	sqlite3_open(newer, &db);
	exec_sql(db, "CREATE TABLE x (a); PRAGMA user_version = 42;");
	sqlite3_close(db);

	const struct cli_case cases[] = {
		{ "--db '%s' status", path, 0, { "1 online / 3" } },
		{ "--db '%s' devices", path, 0, { "b3-pressure", "disabled" } },
		{ "--db '%s' points", path, 0, { "b3-pressure.pressure", "0.48" } },
		{ "--db '%s' history b3-meter.relay --csv", path, 0, { ",1,good\n" } },
		{ "--db '%s' history b3-pressure.pressure", path, 0, { "0.48" } },
		{ "--db '%s' alarms", path, 0, { "b3-fire-pressure-low", "cleared" } },
		/* default since 7d: b3-pressure was first seen 20 h ago, offline 2 h of them */
		{ "--db '%s' report", path, 0, { "90.00 %", "b3-pressure" } },
		{ "--help", NULL, 0, { "usage: yardwatch" } },   /* no store */
		/* what is not there: 66 */
		{ "--db '%s' points no-such-device", path, 66, { NULL } },
		{ "--db '%s' history b3-pressure.nosuch --csv", path, 66, { NULL } },
		{ "--db '%s' history nosuch.point", path, 66, { NULL } },
		{ "--db '%s' history nodot", path, 66, { NULL } },
		{ "--db '%s/no-such.db' status", tmpdir, 66, { NULL } },
		{ "-c '%s/no-such.json' status", tmpdir, 66, { NULL } },
		{ "--db '%s' status", empty, 66, { NULL } },
		/* bad usage: 64 */
		{ "--db '%s' frobnicate", path, 64, { NULL } },
		{ "--db '%s' status --bogus", path, 64, { NULL } },
		{ "--db '%s' alarms --since yesterday", path, 64, { NULL } },
		{ "--db '%s' history", path, 64, { NULL } },
		{ "--db '%s' history b3-pressure.pressure --csv --json", path, 64, { NULL } },
		{ "--db '%s'", path, 64, { NULL } },
		/* a newer schema: 1 */
		{ "--db '%s' status", newer, 1, { NULL } },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct cli_case *c = &cases[i];
		char *out = NULL;
		int rc = run_cli(&out, c->args, c->db);

		check_case = c->args;
		CHECK(rc == c->rc);
		for (int k = 0; k < 2 && c->has[k]; k++)
			CHECK(strstr(out, c->has[k]) != NULL);
		free(out);
	}
	check_case = "";
}

/* history --since starts with the value in force then: the last reading
 * stored before it, at its own time. b3-pressure.dp was stored once, an hour
 * ago (steady); b9-spare.x was never read. */
static void check_history_in_force(const char *path, const struct cli_fill *f)
{
	char since[32], until[32], t[32], want[512];
	size_t k;
	char *out = NULL;
	int rc;

	/* between two readings: the one before comes first, then 3, 4, 5 min */
	util_fmt_time(f->base + 2 * 60000 + 30000, since, sizeof since);
	util_fmt_time(f->base + 5 * 60000, until, sizeof until);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --since %s --until %s --csv",
		     path, since, until);
	k = (size_t)snprintf(want, sizeof want, "ts,value,quality\n");
	for (int i = 2; i <= 5; i++)
		k += (size_t)snprintf(want + k, sizeof want - k, "%s,%s,good\n",
				      util_fmt_time(f->base + i * 60000, t, sizeof t),
				      (const char *[]){ "0.34", "0.36", "0.38", "0.4" }[i - 2]);
	CHECK(rc == 0 && strcmp(out, want) == 0);
	free(out);

	/* a steady point: the last 30 s hold no reading, the value in force is shown */
	rc = run_cli(&out, "--db '%s' history b3-pressure.dp --since 30s --csv", path);
	snprintf(want, sizeof want, "ts,value,quality\n%s,7,good\n",
		 util_fmt_time(f->base, t, sizeof t));
	CHECK(rc == 0 && strcmp(out, want) == 0);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.dp --since 30s --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 1 && jis(out, "$[0].ts", t) &&
	      jis(out, "$[0].value", "7"));
	free(out);

	/* --until before any reading, a point never read: no rows */
	rc = run_cli(&out, "--db '%s' history b3-pressure.dp --since 3h --until 2h --csv", path);
	CHECK(rc == 0 && strcmp(out, "ts,value,quality\n") == 0);
	free(out);
	rc = run_cli(&out, "--db '%s' history b9-spare.x --since 1h --json", path);
	CHECK(rc == 0 && strcmp(out, "[]\n") == 0);
	free(out);
	/* --since after --until */
	rc = run_cli(&out, "--db '%s' history b3-pressure.dp --since 1h --until 2h", path);
	CHECK(rc == 64 && *out == '\0');
	free(out);

	/* the table shows the unit (and "-" where there is no value) */
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --since 2m", path);
	CHECK(rc == 0 && strstr(out, "UNIT") != NULL && strstr(out, "  0.48  MPa   good\n"));
	free(out);
}

/* MS as a table prints it at a fixed offset of OFF_MIN minutes:
 * "2026-11-26 12:10:03.123+08:00" (computed here with gmtime_r). */
static char *table_time(int64_t ms, int off_min, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000) + off_min * 60;
	int a = off_min < 0 ? -off_min : off_min;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%03d%c%02d:%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000),
		 off_min < 0 ? '-' : '+', a / 60, a % 60);
	return buf;
}

/* Run ARGS (one %s: PATH) with TZ set; true when the output holds WANT. */
static bool cli_has(const char *tz, const char *path, const char *args, const char *want)
{
	char *out = NULL;
	bool ok;
	int rc;

	setenv("TZ", tz, 1);
	rc = run_cli(&out, args, path);
	ok = rc == 0 && strstr(out, want) != NULL;
	if (!ok)
		fprintf(stderr, "TZ=%s yardwatch %s: exit %d, no '%s' in:\n%s", tz, args, rc, want,
			out);
	free(out);
	return ok;
}

/* Tables show the gateway's local time with its offset (TZ, as the C
 * library reads it), or UTC with --utc; JSON and CSV are UTC always. */
static void check_table_times(const char *path, const struct cli_fill *f)
{
	const char *sh = "Asia/Shanghai";
	char t[64], want[128], *a = NULL, *b = NULL;

	check_case = "table times";
	/* points (the confirmed time), history, devices, alarms, report, status */
	CHECK(cli_has(sh, path, "--db '%s' points", table_time(f->now - HOUR / 2, 480, t, sizeof t)));
	CHECK(cli_has(sh, path, "--db '%s' points --utc",
		      table_time(f->now - HOUR / 2, 0, t, sizeof t)));
	CHECK(cli_has(sh, path, "--db '%s' history b3-pressure.pressure",
		      table_time(f->base + 9 * 60000, 480, t, sizeof t)));
	CHECK(cli_has(sh, path, "--db '%s' history b3-pressure.pressure --utc",
		      table_time(f->base + 9 * 60000, 0, t, sizeof t)));
	CHECK(cli_has(sh, path, "--db '%s' devices", table_time(f->now - HOUR / 2, 480, t, sizeof t)));
	snprintf(want, sizeof want, "%s  raised", table_time(f->now - 2 * HOUR, 480, t, sizeof t));
	CHECK(cli_has(sh, path, "--db '%s' alarms", want));
	CHECK(cli_has(sh, path, "--db '%s' alarms --active",
		      table_time(f->now - 2 * HOUR, 480, t, sizeof t)));
	CHECK(cli_has(sh, path, "--db '%s' alarms --utc",
		      table_time(f->now - 2 * HOUR, 0, t, sizeof t)));
	CHECK(cli_has(sh, path, "--db '%s' report", "+08:00 .. "));
	CHECK(cli_has(sh, path, "--db '%s' report --utc", "+00:00 .. "));
	snprintf(want, sizeof want, "readings  %s .. ",
		 table_time(f->base - HOUR, 480, t, sizeof t));
	CHECK(cli_has(sh, path, "--db '%s' status", want));
	/* TZ=UTC shows +00:00; an offset west of Greenwich and not whole hours */
	CHECK(cli_has("UTC", path, "--db '%s' points", table_time(f->now - HOUR / 2, 0, t, sizeof t)));
	CHECK(cli_has("<-0330>3:30", path, "--db '%s' points",
		      table_time(f->now - HOUR / 2, -210, t, sizeof t)));

	/* JSON and CSV: RFC 3339 UTC whatever TZ and --utc say */
	CHECK(cli_has(sh, path, "--db '%s' points --json",
		      util_fmt_time(f->now - HOUR / 2, t, sizeof t)));
	setenv("TZ", sh, 1);
	CHECK(run_cli(&a, "--db '%s' history b3-pressure.pressure --csv", path) == 0);
	CHECK(run_cli(&b, "--db '%s' history b3-pressure.pressure --csv --utc", path) == 0);
	CHECK(strcmp(a, b) == 0 && strstr(a, util_fmt_time(f->base, t, sizeof t)) != NULL);
	free(a);
	free(b);
	/* --utc is a command option */
	CHECK(run_cli(&a, "--db '%s' --utc points", path) == 64);
	free(a);
	unsetenv("TZ");
	check_case = "";
}

static void test_cli(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX], t1[32], t2[32], want[256];
	struct store *st;
	struct cli_fill f;
	char *out = NULL;
	int rc;

	if (!cli_init()) {
		CHECK(!"yardwatch binary present");
		cfg_free(cfg);
		return;
	}
	path_of(path, sizeof path, "cli.db");
	st = cli_fill_store(path, cfg, &f);

	/* status */
	rc = run_cli(&out, "--db '%s' status --json", path);
	CHECK(rc == 0);
	CHECK(jkeys(out, "$") == 13);
	/* the store names no control socket: whether a daemon runs is unknown */
	CHECK(jtype(out, "$.daemon.running", "null"));
	CHECK(jtype(out, "$.daemon.pid", "null"));
	CHECK(jlen(out, "$.uplinks") == 0);
	CHECK(jis(out, "$.site", "mangshi-hs07"));
	CHECK(jis(out, "$.gateway", "gw1"));
	CHECK(jis(out, "$.devices_online", "1"));
	CHECK(jis(out, "$.devices_total", "3"));
	CHECK(jis(out, "$.alarms_active", "1"));
	CHECK(jis(out, "$.outbox_depth", "4"));
	CHECK(jtype(out, "$.db_bytes", "integer") && jnum(out, "$.db_bytes") > 4096);
	/* the footprint: the file and its -wal, against storage.max_mb */
	CHECK(jtype(out, "$.wal_bytes", "integer") &&
	      jnum(out, "$.wal_bytes") < jnum(out, "$.db_bytes"));
	CHECK(jnum(out, "$.max_bytes") == 256.0 * 1024 * 1024);
	CHECK(jis(out, "$.first_ts", util_fmt_time(f.base - HOUR, t1, sizeof t1)));
	CHECK(jis(out, "$.last_ts", util_fmt_time(f.base + 9 * 60000, t1, sizeof t1)));
	free(out);

	/* devices */
	rc = run_cli(&out, "--db '%s' devices --json", path);
	CHECK(rc == 0);
	CHECK(jlen(out, "$") == 3);
	CHECK(jkeys(out, "$[0]") == 7);
	CHECK(jis(out, "$[0].id", "b3-pressure"));
	CHECK(jis(out, "$[0].bus", "lan"));
	CHECK(jis(out, "$[0].unit_id", "1"));
	CHECK(jis(out, "$[0].state", "online"));
	CHECK(jis(out, "$[0].last_ok", util_fmt_time(f.now - HOUR / 2, t1, sizeof t1)));
	CHECK(jis(out, "$[0].polls", "4"));
	CHECK(jis(out, "$[0].errors", "9"));
	CHECK(jis(out, "$[1].id", "b3-meter") && jis(out, "$[1].state", "offline"));
	CHECK(jtype(out, "$[1].last_ok", "null"));
	CHECK(jis(out, "$[2].id", "b9-spare") && jis(out, "$[2].state", "disabled"));
	free(out);

	/* points */
	rc = run_cli(&out, "--db '%s' points --json", path);
	CHECK(rc == 0);
	CHECK(jlen(out, "$") == 5);
	CHECK(jkeys(out, "$[0]") == 7);
	CHECK(jis(out, "$[0].id", "b3-pressure.pressure"));
	CHECK(jis(out, "$[0].device", "b3-pressure") && jis(out, "$[0].point", "pressure"));
	CHECK(fabs(jnum(out, "$[0].value") - 0.48) < 1e-9);
	CHECK(jis(out, "$[0].unit", "MPa"));
	/* stored at base + 9 min, read unchanged by the good poll half an hour ago */
	CHECK(jis(out, "$[0].ts", util_fmt_time(f.now - HOUR / 2, t1, sizeof t1)));
	CHECK(jis(out, "$[0].quality", "good"));
	CHECK(jis(out, "$[1].id", "b3-pressure.dp") && jtype(out, "$[1].unit", "null"));
	CHECK(jis(out, "$[2].id", "b3-meter.energy") && jis(out, "$[2].quality", "stale"));
	CHECK(fabs(jnum(out, "$[2].value") - 1234.5) < 1e-9);
	CHECK(jis(out, "$[3].id", "b3-meter.relay") && jtype(out, "$[3].value", "true"));
	CHECK(jis(out, "$[4].id", "b9-spare.x") && jtype(out, "$[4].value", "null") &&
	      jtype(out, "$[4].ts", "null") && jis(out, "$[4].quality", "stale"));
	free(out);
	rc = run_cli(&out, "--db '%s' points b3-meter --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 2);
	free(out);

	/* history: --since/--until inclusive, oldest first */
	util_fmt_time(f.base + 2 * 60000, t1, sizeof t1);
	util_fmt_time(f.base + 5 * 60000, t2, sizeof t2);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --since %s --until %s --csv",
		     path, t1, t2);
	CHECK(rc == 0);
	snprintf(want, sizeof want, "ts,value,quality\n%s,0.34,good\n", t1);
	CHECK(strncmp(out, want, strlen(want)) == 0);
	CHECK(strstr(out, t2) != NULL);
	{
		int lines = 0;
		for (const char *c = out; *c; c++)
			lines += *c == '\n';
		CHECK(lines == 5);
	}
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --since=%s --json", path, t1);
	CHECK(rc == 0 && jlen(out, "$") == 8);
	CHECK(jkeys(out, "$[0]") == 3 && jis(out, "$[0].ts", t1) && jis(out, "$[7].quality", "good"));
	CHECK(fabs(jnum(out, "$[7].value") - 0.48) < 1e-9);
	free(out);
	rc = run_cli(&out, "--db '%s' history b3-pressure.pressure --until 3h --csv", path);
	CHECK(rc == 0 && strcmp(out, "ts,value,quality\n") == 0);
	free(out);
	check_history_in_force(path, &f);
	check_table_times(path, &f);

	/* alarms: newest first; --active: the latest event of each active alarm */
	rc = run_cli(&out, "--db '%s' alarms --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 3);
	CHECK(jis(out, "$[0].seq", "3") && jis(out, "$[1].seq", "2") && jis(out, "$[2].seq", "1"));
	CHECK(jis(out, "$[0].event_id", "gw1-3") && jis(out, "$[1].state", "cleared"));
	CHECK(jkeys(out, "$[0]") == 16 && jtype(out, "$[0].acked", "false") &&
	      jtype(out, "$[0].point", "null"));
	free(out);
	rc = run_cli(&out, "--db '%s' alarms --active --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 1 && jis(out, "$[0].alarm", "b3-meter.offline") &&
	      jis(out, "$[0].state", "raised"));
	free(out);
	rc = run_cli(&out, "--db '%s' alarms --since 4h --json", path);
	CHECK(rc == 0 && jlen(out, "$") == 2 && jis(out, "$[1].seq", "2"));
	free(out);

	/* report */
	rc = run_cli(&out, "--db '%s' report --since 10h --json", path);
	CHECK(rc == 0);
	CHECK(jkeys(out, "$") == 4);
	CHECK(jtype(out, "$.since", "text") && jtype(out, "$.until", "text"));
	CHECK(jlen(out, "$.devices") == 3);
	CHECK(jkeys(out, "$.devices[0]") == 5);
	CHECK(jis(out, "$.devices[0].id", "b3-pressure"));
	CHECK(fabs(jnum(out, "$.devices[0].availability_pct") - 80.0) < 0.01);
	CHECK(jis(out, "$.devices[0].polls", "3"));
	CHECK(jkeys(out, "$.devices[0].failures") == 5);   /* timeout exception crc gateway other */
	CHECK(jis(out, "$.devices[0].failures.timeout", "2"));
	CHECK(jis(out, "$.devices[0].failures.exception", "1"));
	CHECK(jis(out, "$.devices[0].failures.crc", "1"));
	CHECK(jis(out, "$.devices[0].failures.other", "0"));
	CHECK(jis(out, "$.devices[0].longest_outage_s", "7200"));
	CHECK(jis(out, "$.devices[1].id", "b3-meter"));
	CHECK(jnum(out, "$.devices[1].availability_pct") == 0.0 &&
	      jtype(out, "$.devices[1].availability_pct", "real"));
	CHECK(jnum(out, "$.devices[1].longest_outage_s") >= 7200 &&
	      jnum(out, "$.devices[1].longest_outage_s") < 7260);
	CHECK(jtype(out, "$.devices[2].availability_pct", "null"));
	CHECK(jis(out, "$.devices[2].polls", "0"));
	CHECK(jis(out, "$.alarms.by_category.fire", "1"));
	CHECK(jis(out, "$.alarms.by_category.system", "1"));
	CHECK(jis(out, "$.alarms.by_category.power", "0"));
	CHECK(jis(out, "$.alarms.by_severity.critical", "1"));
	CHECK(jis(out, "$.alarms.by_severity.major", "1"));
	CHECK(jis(out, "$.alarms.by_severity.minor", "0"));
	free(out);
	rc = run_cli(&out, "--db '%s' report --since 4h --json", path);
	CHECK(rc == 0 && jis(out, "$.alarms.by_category.fire", "0") &&
	      jis(out, "$.devices[0].availability_pct", "100.0") &&
	      jis(out, "$.devices[0].longest_outage_s", "0"));
	free(out);

	check_cli_cases(path);

	/* after the daemon stopped */
	store_close(st);
	rc = run_cli(&out, "--db '%s' status --json", path);
	CHECK(rc == 0 && jis(out, "$.alarms_active", "1"));
	free(out);

	cfg_free(cfg);
}


int main(void)
{
	fx_init("store-cli");
	test_cli();
	fx_done();
	return check_report();
}
