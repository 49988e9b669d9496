/*
 * args: the command line of yardwatch: the usage text, the command table,
 * global options (before the command) and each command's options and
 * arguments (after it). Times are parsed here (util_parse_time); nothing
 * here touches the store.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../util.h"
#include "version.h"
#include "cli.h"
#include "output.h"

const char cli_usage_text[] =
	"usage: yardwatch [-c FILE | --db PATH] COMMAND [--json] [--utc] ...\n"
	"  status                         gateway summary: store, devices online/total, active alarms, outbox\n"
	"  devices                        one row per device: id, bus, unit, state, last_ok, polls, errors\n"
	"  points [DEVICE]                one row per point: id, latest stored value, unit, ts, quality\n"
	"  alarms [--active] [--since T]  alarm events (newest first) or the active alarms\n"
	"  history POINT [--since T] [--until T] [--csv]\n"
	"                                 stored readings of DEVICE.POINT, oldest first\n"
	"  report [--since T]             maintenance report (default since 7d)\n"
	"  ack ALARM [--by NAME]          acknowledge an active alarm (through the daemon)\n"
	"  write POINT VALUE              write a writable point (through the daemon), print the value read back\n"
	"  read TARGET --unit N --table T --address A [--count N] [--type T] [--order O] [--scale X]\n"
	"                                 one Modbus read, printed as registers/bits and decoded\n"
	"  scan TARGET [--units A-B] [--timeout-ms N] [--profiles-dir DIR] [--config-snippet]\n"
	"                                 the units that answer, and the profile each matches\n"
	"TARGET: --bus ID (a bus of the config) | --tcp HOST:PORT | --rtu-tcp HOST:PORT |\n"
	"        --rtu TTY [--baud N] [--parity N|E|O] [--data-bits N] [--stop-bits N],\n"
	"        each with [--timeout-ms N]\n"
	"read and scan talk Modbus themselves and need no store. --table: coil, discrete,\n"
	"input, holding; --type: bool, int16, uint16, int32, uint32, int64, uint64,\n"
	"float32, float64; --order: ABCD (default), CDAB, BADC, DCBA.\n"
	"options:\n"
	"  -c FILE     the daemon's config, read for storage.path, buses and profiles_dir\n"
	"              (default " CLI_DEFAULT_CONFIG ")\n"
	"  --db PATH   open the store at PATH\n"
	"  --json      one JSON document instead of a table\n"
	"  --utc       times in tables in UTC instead of the gateway's local time\n"
	"  --help, --version\n"
	"T is an ISO-8601 time (2026-11-26T04:10:03Z, 2026-11-26) or a duration back from now\n"
	"(90s, 15m, 2h, 7d). Tables show the gateway's local time with its offset\n"
	"(2026-11-26 12:10:03.123+08:00); JSON and CSV RFC 3339 UTC with milliseconds.\n"
	"exit: 0 ok, 64 bad usage, 66 no such store / device / point / alarm / bus,\n"
	"      75 bus in use by a daemon that cannot be reached, 1 other errors\n"
	"      (read: an exception, no answer or a failed link)\n";

const struct cli_cmd cli_cmds[] = {
	{ "status", cli_status, 0, 0, 0 },
	{ "devices", cli_devices, 0, 0, 0 },
	{ "points", cli_points, 0, 0, 1 },
	{ "alarms", cli_alarms, OPT_ACTIVE | OPT_SINCE, 0, 0 },
	{ "history", cli_history, OPT_SINCE | OPT_UNTIL | OPT_CSV, 1, 1 },
	{ "report", cli_report, OPT_SINCE, 0, 0 },
	{ "ack", cli_ack, OPT_BY, 1, 1 },
	{ "write", cli_write, 0, 2, 2 },
	{ "read", cli_read, OPT_NOSTORE | OPT_READ, 0, 0 },
	{ "scan", cli_scan, OPT_NOSTORE | OPT_SCAN, 0, 0 },
	{ NULL, NULL, 0, 0, 0 },
};

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("yardwatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\ntry 'yardwatch --help'\n", stderr);
	return CLI_EX_USAGE;
}

int cli_query_fail(struct cli *c, int rc)
{
	fprintf(stderr, "yardwatch: %s\n", query_error(c->q));
	return rc == QUERY_NOT_FOUND ? CLI_EX_NOINPUT : CLI_EX_FAIL;
}

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
const char *cli_opt_value(int argc, char **argv, int *i, const char *opt, bool *missing)
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

int cli_parse_cmd(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, int i)
{
	int nargs = 0, r;

	for (; i < argc; i++) {
		const char *a = argv[i], *v;
		bool missing, used = false;

		/* read, scan: TARGET, then the command's own options */
		if (cmd->opts & (OPT_READ | OPT_SCAN)) {
			r = cli_target_opt(c, argc, argv, &i, &used);
			if (r == CLI_EX_OK && !used)
				r = (cmd->opts & OPT_READ ? cli_read_opt : cli_scan_opt)(c, argc, argv,
											 &i, &used);
			if (r != CLI_EX_OK)
				return r;
			if (used)
				continue;
		}
		if (strcmp(a, "--json") == 0) {
			c->json = true;
		} else if (strcmp(a, "--utc") == 0) {
			c->utc = true;
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
		} else if ((cmd->opts & OPT_BY) &&
			   ((v = cli_opt_value(argc, argv, &i, "--by", &missing)) || missing)) {
			if (missing || !*v)
				return cli_usage_error("--by needs a name");
			c->by = v;
		} else if (a[0] == '-' && a[1] != '\0' && !(nargs == 1 && c->arg2 == NULL &&
							   cmd->max_args == 2)) {
			return cli_usage_error("%s: unknown option '%s'", cmd->name, a);
		} else {
			if (nargs >= cmd->max_args)
				return cli_usage_error("%s: unexpected argument '%s'", cmd->name, a);
			if (nargs == 0)
				c->arg = a;
			else
				c->arg2 = a;
			nargs++;
		}
	}
	if (nargs < cmd->min_args)
		return cli_usage_error("%s: missing %s", cmd->name,
				       strcmp(cmd->name, "history") == 0 ? "POINT (DEVICE.POINT)" :
				       strcmp(cmd->name, "ack") == 0 ? "ALARM" :
				       strcmp(cmd->name, "write") == 0 ?
				       (nargs == 0 ? "POINT (DEVICE.POINT) and VALUE" : "VALUE") :
				       "argument");
	if (c->json && c->csv)
		return cli_usage_error("%s: --json and --csv exclude each other", cmd->name);
	cli_time_style(c->utc);
	return CLI_EX_OK;
}

static bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int cli_parse_global(int argc, char **argv, const char **cfg_file, const char **db,
		     const struct cli_cmd **cmd, int *next)
{
	int i;

	*cmd = NULL;
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
			*cfg_file = v;
		} else if ((v = cli_opt_value(argc, argv, &i, "--db", &missing)) || missing) {
			if (missing)
				return cli_usage_error("--db needs a path");
			*db = v;
		} else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--utc") == 0) {
			return cli_usage_error("%s goes after the command (yardwatch COMMAND %s)",
					       argv[i], argv[i]);
		} else {
			return cli_usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (*cfg_file && *db)
		return cli_usage_error("give either -c FILE or --db PATH, not both");
	if (i >= argc)
		return cli_usage_error("missing command");
	for (const struct cli_cmd *k = cli_cmds; k->name; k++)
		if (strcmp(argv[i], k->name) == 0)
			*cmd = k;
	if (!*cmd)
		return cli_usage_error("unknown command '%s'", argv[i]);
	*next = i + 1;
	return CLI_EX_OK;
}
