/*
 * test_cli_target: TARGET of `yardwatch read` and `scan` (daemon/cli/target.c)
 * through the real command line parser: numbers, HOST:PORT, the four kinds
 * of target with their defaults and settings, a bus of a real config, and
 * every usage error with its exit code (64; 66 for a bus that is not there).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/cli/cli.h"
#include "../../daemon/cli/link.h"
#include "check.h"

static void test_parse_int(void)
{
	static const struct {
		const char *s;
		long long lo, hi;
		int rc, want;
	} cases[] = {
		{"0", 0, 10, 0, 0}, {"247", 0, 247, 0, 247}, {"0xFC02", 0, 65535, 0, 64514},
		{"0x10", 0, 100, 0, 16}, {"-5", -10, 10, 0, -5}, {"248", 0, 247, -1, 0},
		{"-1", 0, 10, -1, 0}, {"", 0, 10, -1, 0}, {"1x", 0, 10, -1, 0}, {" 1", 0, 10, -1, 0},
		{"+1", 0, 10, -1, 0}, {"0x", 0, 10, -1, 0}, {"0x-1", -5, 10, -1, 0},
		{"1.5", 0, 10, -1, 0}, {"99999999999999999999", 0, 10, -1, 0}, {"010", 0, 10, 0, 10},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int v = 0, rc = cli_parse_int(cases[i].s, cases[i].lo, cases[i].hi, &v);

		check_case = cases[i].s;
		CHECK(rc == cases[i].rc);
		CHECK(rc != 0 || v == cases[i].want);
	}
	check_case = "";
}

static void test_hostport(void)
{
	static const struct {
		const char *s, *host;
		int port;
		const char *why;
	} cases[] = {
		{"127.0.0.1:502", "127.0.0.1", 502, NULL},
		{"gw-3.yard.example:4196", "gw-3.yard.example", 4196, NULL},
		{"[::1]:1502", "::1", 1502, NULL},
		{"[fe80::1%eth0]:502", "fe80::1%eth0", 502, NULL},
		{"h:65535", "h", 65535, NULL},
		{"127.0.0.1", NULL, 0, "the port is missing"},
		{"127.0.0.1:", NULL, 0, "the port must be a number in 1..65535"},
		{"127.0.0.1:0", NULL, 0, "the port must be a number in 1..65535"},
		{"127.0.0.1:65536", NULL, 0, "the port must be a number in 1..65535"},
		{"127.0.0.1:0x1f6", NULL, 0, "the port must be a number in 1..65535"},
		{"127.0.0.1:-1", NULL, 0, "the port must be a number in 1..65535"},
		{"127.0.0.1:502 ", NULL, 0, "the port must be a number in 1..65535"},
		{":502", NULL, 0, "the host is missing"},
		{"[]:502", NULL, 0, "the host is missing"},
		{"::1:502", NULL, 0, "an IPv6 address goes in brackets: [ADDRESS]:PORT"},
		{"[::1]502", NULL, 0, "the port is missing after ']'"},
		{"[::1:502", NULL, 0, "an IPv6 address in brackets needs its ']'"},
		{"a b:502", NULL, 0, "the host has a character no host name has"},
		{"a/b:502", NULL, 0, "the host has a character no host name has"},
		{"[a]b]:502", NULL, 0, "the port is missing after ']'"},
	};
	char host[256], why[128], longhost[300];
	int port;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc = cli_parse_hostport(cases[i].s, host, sizeof host, &port, why, sizeof why);

		check_case = cases[i].s;
		CHECK(rc == (cases[i].host ? 0 : -1));
		if (cases[i].host)
			CHECK(rc == 0 && strcmp(host, cases[i].host) == 0 && port == cases[i].port);
		else
			CHECK(rc != 0 && strcmp(why, cases[i].why) == 0);
	}
	check_case = "";
	memset(longhost, 'a', 256);
	strcpy(longhost + 256, ":502");
	CHECK(cli_parse_hostport(longhost, host, sizeof host, &port, why, sizeof why) == -1 &&
	      strcmp(why, "the host is longer than 255 characters") == 0);
	longhost[255] = '\0';
	strcat(longhost, ":502");
	CHECK(cli_parse_hostport(longhost, host, sizeof host, &port, why, sizeof why) == 0 &&
	      strlen(host) == 255);
}

static const struct cli_cmd *cmd_named(const char *name)
{
	for (const struct cli_cmd *k = cli_cmds; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Parse ARGS (after the command NAME, NULL-terminated) as the command line
 * does, then resolve the target. The first exit code that is not OK. */
static int resolve(struct config *cfg, const char *name, struct cli_target *t,
		   struct cli *out, ...)
{
	static char args[32][300];
	const struct cli_cmd *cmd = cmd_named(name);
	const char *a = name;
	char *argv[32];
	int argc = 0, r;
	va_list ap;

	memset(out, 0, sizeof *out);
	out->cfg = cfg;
	va_start(ap, out);
	for (; argc < 31 && a; a = va_arg(ap, const char *)) {
		snprintf(args[argc], sizeof args[argc], "%s", a);
		argv[argc] = args[argc];
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	r = cli_parse_cmd(out, cmd, argc, argv, 1);
	if (r != CLI_EX_OK)
		return r;
	return cli_target_resolve(out, strcmp(name, "scan") == 0, t);
}

static void test_own_lines(void)
{
	struct cli_target t;
	struct cli c;
	char name[1200];

	CHECK(resolve(NULL, "read", &t, &c, "--tcp", "127.0.0.1:1502", "--unit", "3", NULL) == 0);
	CHECK(t.s.type == DRV_BUS_TCP && strcmp(t.s.host, "127.0.0.1") == 0 && t.s.port == 1502);
	CHECK(t.s.timeout_ms == 1000 && t.s.retries == 0 && t.bus_id[0] == '\0');
	cli_target_name(&t, name, sizeof name);
	CHECK(strcmp(name, "tcp 127.0.0.1:1502") == 0);
	CHECK(c.line.has_unit && c.line.unit == 3);

	CHECK(resolve(NULL, "scan", &t, &c, "--tcp=[::1]:502", NULL) == 0);
	CHECK(t.s.type == DRV_BUS_TCP && t.s.timeout_ms == 200 && t.s.retries == 0);
	cli_target_name(&t, name, sizeof name);
	CHECK(strcmp(name, "tcp [::1]:502") == 0);

	CHECK(resolve(NULL, "read", &t, &c, "--rtu-tcp", "10.0.0.9:4196", "--timeout-ms", "450",
		      NULL) == 0);
	CHECK(t.s.type == DRV_BUS_RTU_TCP && t.s.port == 4196 && t.s.timeout_ms == 450);
	CHECK(resolve(NULL, "scan", &t, &c, "--rtu-tcp", "10.0.0.9:4196", NULL) == 0);
	CHECK(t.s.timeout_ms == 300);

	CHECK(resolve(NULL, "read", &t, &c, "--rtu", "/dev/ttyUSB0", NULL) == 0);
	CHECK(t.s.type == DRV_BUS_RTU && strcmp(t.s.device, "/dev/ttyUSB0") == 0);
	CHECK(t.s.baud == 9600 && t.s.parity == 'N' && t.s.data_bits == 8 && t.s.stop_bits == 1);
	CHECK(t.s.timeout_ms == 300 && t.s.retries == 0 && !t.s.rs485);
	cli_target_name(&t, name, sizeof name);
	CHECK(strcmp(name, "rtu /dev/ttyUSB0 9600 8N1") == 0);

	CHECK(resolve(NULL, "scan", &t, &c, "--rtu", "/dev/ttyUSB0", "--baud", "1200", "--parity",
		      "E", "--data-bits", "7", "--stop-bits=2", NULL) == 0);
	CHECK(t.s.baud == 1200 && t.s.parity == 'E' && t.s.data_bits == 7 && t.s.stop_bits == 2);
	CHECK(t.s.timeout_ms == 335);
	CHECK(resolve(NULL, "scan", &t, &c, "--rtu", "/dev/ttyUSB0", "--baud", "4800", NULL) == 0 &&
	      t.s.timeout_ms == 128);
	CHECK(resolve(NULL, "scan", &t, &c, "--rtu", "/dev/ttyUSB0", "--baud", "115200", NULL) ==
	      0 && t.s.timeout_ms == 100);
	CHECK(resolve(NULL, "scan", &t, &c, "--rtu", "/dev/ttyUSB0", "--timeout-ms", "60", NULL) ==
	      0 && t.s.timeout_ms == 60);
}

static void test_usage_errors(void)
{
	static const char *const bad[][6] = {
		{ NULL },                                           /* no target */
		{ "--tcp", "h:1", "--rtu", "/dev/x", NULL },         /* two */
		{ "--tcp", "h:1", "--tcp", "h:2", NULL },            /* twice */
		{ "--tcp", NULL },                                  /* no value */
		{ "--tcp", "h", NULL },                             /* no port */
		{ "--tcp", "h:1", "--baud", "9600", NULL },          /* serial on tcp */
		{ "--bus", "lan", "--parity", "E", NULL },          /* serial on a bus */
		{ "--rtu", "/dev/x", "--baud", "9601", NULL },
		{ "--rtu", "/dev/x", "--parity", "X", NULL },
		{ "--rtu", "/dev/x", "--parity", "NE", NULL },
		{ "--rtu", "/dev/x", "--data-bits", "9", NULL },
		{ "--rtu", "/dev/x", "--stop-bits", "0", NULL },
		{ "--rtu", "/dev/x", "--timeout-ms", "9", NULL },
		{ "--rtu", "/dev/x", "--timeout-ms", "10001", NULL },
		{ "--rtu", "/dev/x", "--timeout-ms", "1s", NULL },
		{ "--rtu", "", NULL },
		{ "--rtu", "/dev/x", "--frobnicate", NULL },
	};
	struct cli_target t;
	struct cli c;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char msg[16];

		snprintf(msg, sizeof msg, "usage %zu", i);
		check_case = msg;
		CHECK(resolve(NULL, "read", &t, &c, bad[i][0], bad[i][1], bad[i][2], bad[i][3],
			      bad[i][4], NULL) == CLI_EX_USAGE);
	}
	check_case = "";
	/* --bus without a config to find it in */
	CHECK(resolve(NULL, "read", &t, &c, "--bus", "lan", NULL) == CLI_EX_NOINPUT);
}

static void test_bus(void)
{
	char dir[] = "/tmp/yw-test-target.XXXXXX", path[64], *errs = NULL;
	size_t len = 0;
	struct config *cfg;
	struct cli_target t;
	struct cli c;
	char name[1200];
	FILE *f, *ef;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/site.json", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("{\"site\": {\"id\": \"s\", \"gateway\": \"g\"},\n"
	      " \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"192.168.10.20\", "
	      "\"port\": 1502, \"timeout_ms\": 700, \"retries\": 2},\n"
	      "  {\"id\": \"rs485-1\", \"type\": \"rtu\", \"device\": \"/dev/yw-no-such-tty\", "
	      "\"baud\": 19200, \"parity\": \"E\", \"rs485\": true, \"inter_frame_delay_ms\": 5}],\n"
	      " \"devices\": [{\"id\": \"d\", \"bus\": \"lan\", \"unit\": 1, \"points\": [{\"name\": "
	      "\"p\", \"table\": \"coil\", \"address\": 0}]}]}\n", f);
	fclose(f);
	ef = open_memstream(&errs, &len);
	cfg = config_load(path, NULL, ef);
	fclose(ef);
	free(errs);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(resolve(cfg, "read", &t, &c, "--bus", "lan", NULL) == 0);
	CHECK(strcmp(t.bus_id, "lan") == 0 && t.s.type == DRV_BUS_TCP && t.s.port == 1502);
	CHECK(t.s.timeout_ms == 700 && t.s.retries == 2);
	cli_target_name(&t, name, sizeof name);
	CHECK(strcmp(name, "bus lan (tcp 192.168.10.20:1502)") == 0);
	CHECK(resolve(cfg, "read", &t, &c, "--bus", "lan", "--timeout-ms", "50", NULL) == 0 &&
	      t.s.timeout_ms == 50 && t.s.retries == 2);
	CHECK(resolve(cfg, "scan", &t, &c, "--bus", "lan", NULL) == 0 && t.s.timeout_ms == 200 &&
	      t.s.retries == 0);
	CHECK(resolve(cfg, "read", &t, &c, "--bus", "rs485-1", NULL) == 0);
	CHECK(t.s.type == DRV_BUS_RTU && t.s.baud == 19200 && t.s.parity == 'E' && t.s.rs485 &&
	      t.s.inter_frame_delay_ms == 5 && t.s.timeout_ms == 300 && t.s.retries == 1);
	CHECK(resolve(cfg, "scan", &t, &c, "--bus", "rs485-1", NULL) == 0 && t.s.timeout_ms == 100);
	CHECK(resolve(cfg, "read", &t, &c, "--bus", "wan", NULL) == CLI_EX_NOINPUT);
	config_free(cfg);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_parse_int();
	test_hostport();
	test_own_lines();
	test_usage_errors();
	test_bus();
	return check_report();
}
