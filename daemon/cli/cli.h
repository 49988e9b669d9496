/*
 * cli: what the files of the command line share: its state for one run,
 * the exit codes, and the commands. main.c wires them: args.c parses the
 * command line, the config is loaded, the store is opened through the query
 * module (store/query.h) for the commands that read it, one cmd_*.c runs
 * the command, output.c formats. read and scan talk Modbus instead: their
 * TARGET is parsed by target.c, their requests go through link.h.
 *
 * Exit codes: 0 ok, 64 bad usage (unknown command or option, bad time),
 * 66 no such store / device / point / bus (also: the config file named by
 * -c does not exist), 1 anything else (an invalid config, a store of
 * another schema version, an SQLite error; read: an exception, no answer,
 * a link that failed).
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
	/* the command reads no store (main.c opens none) */
	OPT_NOSTORE = 1 << 8,
	/* TARGET (target.c) and read's options (cmd_read.c) / scan's (cmd_scan.c) */
	OPT_READ = 1 << 9,
	OPT_SCAN = 1 << 10,
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

/* read and scan: their options as given (0 / false / NULL: not given). */
struct cli_line_args {
	/* TARGET (target.c) */
	int ntargets;             /* how many of --bus, --tcp, --rtu-tcp, --rtu */
	const char *bus, *tcp, *rtu_tcp, *rtu;
	int baud, data_bits, stop_bits;
	char parity;
	int timeout_ms;
	/* read (cmd_read.c) */
	bool has_unit, has_table, has_address, has_type, has_order, has_scale;
	int unit, table, address, count, type, order;
	double scale;
	/* scan (cmd_scan.c) */
	bool has_units, snippet;
	int unit_lo, unit_hi;
	const char *profiles_dir;
};
struct cli {
	struct query *q;
	struct config *cfg;       /* -c FILE, or the default config when it exists
	                             and is valid; NULL when none (owned) */
	const char *cfg_file;     /* the config named or tried */
	struct cli_line_args line;
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
/* ARGV[*I] is OPT: its value ("--opt VALUE" or "--opt=VALUE"), *I advanced
 * past what was used. NULL when ARGV[*I] is not OPT, or (*MISSING) when
 * the value is missing. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *opt, bool *missing);

/* target.c: TARGET and the number options of read and scan. */
/* S as an integer in LO..HI (decimal, or hex with 0x). 0, or -1. */
int cli_parse_int(const char *s, long long lo, long long hi, int *out);
/* "HOST:PORT" or "[IPV6]:PORT" into HOST (HOSTLEN bytes) and *PORT
 * (1..65535). 0, or -1 with a reason in WHY (WHYLEN bytes). */
int cli_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *why,
		       size_t whylen);
/* The number option OPT at ARGV[*I] in LO..HI into *OUT (*USED when it is
 * OPT); CLI_EX_OK or a usage error. */
int cli_int_opt(int argc, char **argv, int *i, const char *opt, long long lo, long long hi,
		int *out, bool *used);
/* A TARGET option at ARGV[*I] (*USED when it is one); CLI_EX_OK or a usage error. */
int cli_target_opt(struct cli *c, int argc, char **argv, int *i, bool *used);

/* cmd_read.c, cmd_scan.c: their own options, as cli_target_opt. */
int cli_read_opt(struct cli *c, int argc, char **argv, int *i, bool *used);
int cli_scan_opt(struct cli *c, int argc, char **argv, int *i, bool *used);

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
int cli_read(struct cli *c);
int cli_scan(struct cli *c);

#endif
