/*
 * cli: what the files of the command line share: its state for one run,
 * the exit codes, and the commands. main.c wires them: args.c parses the
 * command line, the store is opened through the query module
 * (store/query.h), one cmd_*.c runs the command, output.c formats.
 *
 * Exit codes: 0 ok, 64 bad usage (unknown command or option, bad time),
 * 66 no such store / device / point (also: the config file named by -c does
 * not exist), 1 anything else (an invalid config, a store of another schema
 * version, an SQLite error).
 */
#ifndef YW_CLI_H
#define YW_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "../config.h"
#include "../store/query.h"

#include <jansson.h>

#define CLI_EX_OK 0
#define CLI_EX_FAIL 1
#define CLI_EX_USAGE 64
#define CLI_EX_NOINPUT 66
#define CLI_EX_TEMPFAIL 75   /* a serial line held by a daemon that cannot be reached */

#define CLI_DEFAULT_CONFIG "/etc/yardwatch/yardwatch.json"
#define CLI_DAY_MS 86400000LL

/* Command options (struct cli_cmd.opts). */
enum {
	OPT_ACTIVE = 1 << 0,
	OPT_SINCE = 1 << 1,
	OPT_UNTIL = 1 << 2,
	OPT_CSV = 1 << 3,
	OPT_BY = 1 << 4,
};

/* What the daemon said of itself over its control socket (cli_daemon_ask). */
struct cli_daemon {
	bool asked;
	bool known;               /* false: the store names no control socket
	                             (the daemon has none): its state is unknown */
	bool running;             /* it answered */
	int pid;
	char error[320];          /* why not running / not asked, for people */
	json_t *status;           /* owned: its status reply, when running */
};

struct cli {
	struct query *q;
	char path[YW_PATH_MAX];   /* the store */
	bool json, csv, active;
	bool utc;                 /* --utc: tables in UTC (JSON and CSV always are) */
	bool has_since, has_until;
	int64_t now, since, until;
	const char *arg;          /* DEVICE (points), POINT (history, write), ALARM (ack) */
	const char *arg2;         /* VALUE (write) */
	const char *by;           /* ack --by NAME */
	char ctl_path[108];       /* the daemon's control socket ("" none) */
	bool ctl_known;           /* ctl_path is what the store or config says */
	struct cli_daemon daemon;
	const struct cli_cmd *cmd;   /* the command run */
};

/* daemon.c: ask the daemon over its control socket whether it runs (once;
 * the answer is kept in C->daemon). */
void cli_daemon_ask(struct cli *c);
void cli_daemon_free(struct cli *c);

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c);
	unsigned opts;
	int min_args, max_args;
};

/* args.c: the command table, usage, and the command line. */
extern const struct cli_cmd cli_cmds[];
extern const char cli_usage_text[];
/* Print "yardwatch: MESSAGE" and the --help hint; returns CLI_EX_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Global options before the command: sets *CFG_FILE / *DB and *CMD;
 * CLI_EX_OK, or an exit code (--help and --version print and exit 0:
 * *CMD stays NULL). Then the command's own options and arguments. */
int cli_parse_global(int argc, char **argv, const char **cfg_file, const char **db,
		     const struct cli_cmd **cmd, int *next);
int cli_parse_cmd(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, int i);

/* The query failure RC (QUERY_ERROR, QUERY_NOT_FOUND) printed; its exit code. */
int cli_query_fail(struct cli *c, int rc);

/* The commands (cmd_*.c). */
int cli_status(struct cli *c);
int cli_devices(struct cli *c);
int cli_points(struct cli *c);
int cli_alarms(struct cli *c);
int cli_history(struct cli *c);
int cli_report(struct cli *c);
int cli_ack(struct cli *c);
int cli_write(struct cli *c);

#endif
