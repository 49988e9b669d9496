/*
 * cmd_status: the commands about the present state: status (the gateway
 * summary), devices, points (latest values). Each asks the daemon whether
 * it runs (daemon.c): while it does not, devices are `unknown` and points
 * `stale` whatever the store last recorded, and status says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/query_json.h"
#include "../util.h"
#include "cli.h"
#include "output.h"

/* The daemon is known not to run: what the store says is history. */
static bool cli_daemon_down(struct cli *c)
{
	cli_daemon_ask(c);
	return c->daemon.known && !c->daemon.running;
}

/* ---- status ---- */

/* "daemon" and "uplinks" of status --json. */
static json_t *cli_status_daemon_json(struct cli *c, json_t *o)
{
	const struct cli_daemon *d = &c->daemon;
	json_t *ups = d->running ? json_object_get(d->status, "uplinks") : NULL;

	if (!o)
		return NULL;
	json_object_set_new(o, "daemon",
			    json_pack("{s:o, s:o}", "running",
				      d->known ? json_boolean(d->running) : json_null(), "pid",
				      d->running ? json_integer(d->pid) : json_null()));
	json_object_set_new(o, "uplinks", ups ? json_incref(ups) : json_array());
	return o;
}

/* The table rows of the daemon and its links. */
static void cli_status_daemon_rows(struct cli *c, struct cli_table *t)
{
	const struct cli_daemon *d = &c->daemon;
	char line[400];
	size_t i;
	json_t *u;

	const char *version = json_string_value(json_object_get(d->status, "version"));

	if (d->running)
		snprintf(line, sizeof line, "running (pid %d, version %s)", d->pid,
			 version ? version : "?");
	else
		snprintf(line, sizeof line, "%s%s", d->known ? "" : "unknown: ", d->error);
	cli_table_row(t, "daemon", line);
	json_array_foreach(d->running ? json_object_get(d->status, "uplinks") : NULL, i, u) {
		char label[96];
		const char *id = json_string_value(json_object_get(u, "id"));
		snprintf(label, sizeof label, "uplink %s", id ? id : "?");
		const char *oldest = json_string_value(json_object_get(u, "oldest"));
		int64_t t0 = 0;
		char age[64] = "";
		if (oldest && util_parse_time(oldest, c->now, &t0) == 0) {
			char dur[32];
			snprintf(age, sizeof age, ", the oldest queued %s ago",
				 cli_fmt_duration(c->now - t0, dur, sizeof dur));
		}
		snprintf(line, sizeof line, "%s, %lld unsent%s",
			 json_is_true(json_object_get(u, "connected")) ? "connected" : "NOT connected",
			 (long long)json_integer_value(json_object_get(u, "outbox_depth")), age);
		cli_table_row(t, label, line);
	}
}

static int cli_status_table(struct cli *c, const struct query_status *st)
{
	char site[YW_TEXT_MAX * 2], devs[64], alarms[64], outbox[64], store[YW_PATH_MAX + 64];
	char readings[2 * CLI_TIME_LEN + 8], opened[CLI_TIME_LEN + 32], created[CLI_TIME_LEN];
	char t1[CLI_TIME_LEN], t2[CLI_TIME_LEN], dur[32];
	const char *name = st->site_name;
	bool named = name && *name;
	struct cli_table t = { .ncols = 2, .align = "ll" };

	snprintf(site, sizeof site, "%s%s%s%s", st->site ? st->site : "-", named ? " (" : "",
		 named ? name : "", named ? ")" : "");
	if (cli_daemon_down(c))
		snprintf(devs, sizeof devs, "%lld, state unknown (the daemon does not run)",
			 (long long)st->devices_total);
	else
		snprintf(devs, sizeof devs, "%lld online / %lld", (long long)st->devices_online,
			 (long long)st->devices_total);
	snprintf(alarms, sizeof alarms, "%lld active", (long long)st->alarms_active);
	snprintf(outbox, sizeof outbox, "%lld unsent", (long long)st->outbox_depth);
	if (st->max_bytes > 0)
		snprintf(store, sizeof store, "%s, %.1f MB of %.0f MB (WAL %.1f MB)", c->path,
			 (double)st->db_bytes / (1024.0 * 1024.0),
			 (double)st->max_bytes / (1024.0 * 1024.0),
			 (double)st->wal_bytes / (1024.0 * 1024.0));
	else
		snprintf(store, sizeof store, "%s, %.1f MB (WAL %.1f MB)", c->path,
			 (double)st->db_bytes / (1024.0 * 1024.0),
			 (double)st->wal_bytes / (1024.0 * 1024.0));
	if (st->first_ts == QUERY_NO_TIME)
		snprintf(readings, sizeof readings, "none");
	else
		snprintf(readings, sizeof readings, "%s .. %s", cli_time(st->first_ts, t1),
			 cli_time(st->last_ts, t2));
	if (st->opened == QUERY_NO_TIME)
		snprintf(opened, sizeof opened, "-");
	else
		snprintf(opened, sizeof opened, "%s (%s ago)", cli_time(st->opened, t1),
			 cli_fmt_duration(c->now - st->opened, dur, sizeof dur));
	if (st->created == QUERY_NO_TIME)
		snprintf(created, sizeof created, "-");
	else
		cli_time(st->created, created);

	cli_table_row(&t, "site", site);
	cli_table_row(&t, "gateway", st->gateway);
	cli_status_daemon_rows(c, &t);
	cli_table_row(&t, "devices", devs);
	cli_table_row(&t, "alarms", alarms);
	cli_table_row(&t, "outbox", outbox);
	cli_table_row(&t, "store", store);
	cli_table_row(&t, "created", created);
	cli_table_row(&t, "opened", opened);
	cli_table_row(&t, "readings", readings);
	return cli_table_print(&t);
}

int cli_status(struct cli *c)
{
	struct query_status st;
	int rc = query_status(c->q, &st), ret;

	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	if (cli_daemon_down(c))
		st.devices_online = 0;
	ret = c->json ? cli_print_json(cli_status_daemon_json(c, query_json_status(&st))) :
			cli_status_table(c, &st);
	query_status_free(&st);
	return ret;
}

/* ---- devices ---- */

static int cli_devices_table(const struct query_device *rows, size_t n)
{
	struct cli_table t = { .ncols = 7, .align = "llrllrr" };

	cli_table_row(&t, "DEVICE", "BUS", "UNIT", "STATE", "LAST OK", "POLLS", "ERRORS");
	for (size_t i = 0; i < n; i++) {
		const struct query_device *d = &rows[i];
		char unit[24], polls[24], errors[24], t1[CLI_TIME_LEN] = "-";

		if (d->last_ok != QUERY_NO_TIME)
			cli_time(d->last_ok, t1);
		snprintf(unit, sizeof unit, "%lld", (long long)d->unit_id);
		snprintf(polls, sizeof polls, "%lld", (long long)d->polls);
		snprintf(errors, sizeof errors, "%lld", (long long)d->errors);
		cli_table_row(&t, d->id, d->bus, unit, d->state, t1, polls, errors);
	}
	return cli_table_print(&t);
}

int cli_devices(struct cli *c)
{
	struct query_device *rows;
	size_t n;
	int rc = query_devices(c->q, &rows, &n), ret;

	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	if (cli_daemon_down(c)) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].state, "disabled") != 0)
				snprintf(rows[i].state, sizeof rows[i].state, "unknown");
		if (!c->json)
			fprintf(stderr, "yardwatch: daemon %s: device states unknown\n",
				c->daemon.error);
	}
	ret = c->json ? cli_print_json(query_json_devices(rows, n)) : cli_devices_table(rows, n);
	free(rows);
	return ret;
}

/* ---- points ---- */

static int cli_points_table(const struct query_point *rows, size_t n)
{
	struct cli_table t = { .ncols = 5, .align = "lrlll" };

	cli_table_row(&t, "POINT", "VALUE", "UNIT", "TS", "QUALITY");
	for (size_t i = 0; i < n; i++) {
		const struct query_point *p = &rows[i];
		bool never = p->latest.ts == QUERY_NO_TIME;
		char v[48], t1[CLI_TIME_LEN] = "-";

		cli_fmt_value(&p->latest, p->type, false, v, sizeof v);
		if (!never)
			cli_time(p->latest.ts, t1);
		cli_table_row(&t, p->id, never || !*v ? "-" : v, *p->unit ? p->unit : NULL, t1,
			      point_quality_name(p->latest.quality));
	}
	return cli_table_print(&t);
}

int cli_points(struct cli *c)
{
	struct query_point *rows;
	size_t n;
	int rc = query_points(c->q, c->arg, &rows, &n), ret;

	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	if (cli_daemon_down(c)) {
		for (size_t i = 0; i < n; i++)
			if (rows[i].latest.ts != QUERY_NO_TIME)
				rows[i].latest.quality = Q_STALE;
		if (!c->json)
			fprintf(stderr, "yardwatch: daemon %s: values are stale\n",
				c->daemon.error);
	}
	ret = c->json ? cli_print_json(query_json_points(rows, n)) : cli_points_table(rows, n);
	free(rows);
	return ret;
}
