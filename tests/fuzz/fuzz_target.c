/*
 * fuzz_target: libFuzzer target of the TARGET and options of `yardwatch
 * read` and `scan` (daemon/cli/target.c, with the command line parser of
 * args.c and the commands' own options of cmd_read.c and cmd_scan.c):
 * HOST:PORT, numbers, --units, --scale, names, the serial settings, a bus
 * of a config. Nothing is sent: the commands themselves are not run.
 *
 * Input: one byte choosing the command (bit 0: read or scan) and whether a
 * config is there (bit 1: two buses, "lan" tcp and "rs" rtu), then the
 * arguments after the command, one a line. The first line also goes to
 * cli_parse_hostport on its own. Messages go to a discarded stream (to
 * stderr when YW_FUZZ_VERBOSE is set); libFuzzer's and the sanitizers'
 * reports are not touched.
 *
 * Checked, whatever the bytes (besides ASan/UBSan): a parse that fails
 * says why (a NUL-terminated reason; exit code 64 or 66, never another);
 * one that succeeds gives a host that ends in its field, has no blank and
 * is not empty, and a port in 1..65535. A resolved target is exactly one
 * line: tcp / rtu-tcp with such a host and port, or rtu with a device, a
 * standard baud rate, parity N/E/O, 7 or 8 data bits, 1 or 2 stop bits; a
 * timeout in 10..10000 ms; no retries on a line of its own (the bus's for
 * --bus); scan's units in 0..255 and in order; read's unit, address and
 * count in range, its table, type and order names of point.h, its scale
 * finite and not 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/cli/cli.h"
#include "../../daemon/cli/link.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 24

static struct config cfg;
static struct bus_cfg buses[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* libFuzzer keeps its own copy of the stream it writes to */
	if (!getenv("YW_FUZZ_VERBOSE") && !(stderr = fopen("/dev/null", "w")))
		abort();
	snprintf(cfg.path, sizeof cfg.path, "fuzz.json");
	snprintf(buses[0].id, sizeof buses[0].id, "lan");
	buses[0].type = BUS_TCP;
	snprintf(buses[0].host, sizeof buses[0].host, "192.168.10.20");
	buses[0].port = 502;
	buses[0].timeout_ms = 1000;
	buses[0].retries = 1;
	snprintf(buses[1].id, sizeof buses[1].id, "rs");
	buses[1].type = BUS_RTU;
	snprintf(buses[1].device, sizeof buses[1].device, "/dev/ttyS1");
	buses[1].baud = 9600;
	buses[1].parity = 'N';
	buses[1].data_bits = 8;
	buses[1].stop_bits = 1;
	buses[1].timeout_ms = 300;
	buses[1].retries = 2;
	cfg.buses = buses;
	cfg.nbuses = 2;
	return 0;
}

static void check_host(const char *host, size_t size, int port)
{
	size_t n = strnlen(host, size);

	if (n == 0 || n == size || port < 1 || port > 65535)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)host[i] <= ' ')
			abort();
}

static void check_target(const struct cli *c, const struct cli_target *t)
{
	static const int bauds[] = { 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400 };
	const struct drv_settings *s = &t->s;
	size_t k = 0;

	if (c->line.ntargets != 1 || s->timeout_ms < 10 || s->timeout_ms > 10000)
		abort();
	if (!memchr(t->bus_id, '\0', sizeof t->bus_id) || !memchr(s->id, '\0', sizeof s->id))
		abort();
	if (!t->bus_id[0] && s->retries != 0)
		abort();
	if (s->type == DRV_BUS_TCP || s->type == DRV_BUS_RTU_TCP) {
		check_host(s->host, sizeof s->host, s->port);
		return;
	}
	if (s->type != DRV_BUS_RTU || !memchr(s->device, '\0', sizeof s->device) || !s->device[0])
		abort();
	while (k < sizeof bauds / sizeof *bauds && bauds[k] != s->baud)
		k++;
	if (k == sizeof bauds / sizeof *bauds || !strchr("NEO", s->parity) || s->parity == '\0' ||
	    s->data_bits < 7 || s->data_bits > 8 || s->stop_bits < 1 || s->stop_bits > 2)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[MAX_ARGS + 2], host[256], why[128];
	const struct cli_cmd *cmd = NULL;
	struct cli_target t;
	struct cli c;
	int argc = 0, port = 0, r;
	bool scan;

	if (size < 1)
		return 0;
	scan = data[0] & 1;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	for (const struct cli_cmd *k = cli_cmds; k->name; k++)
		if (strcmp(k->name, scan ? "scan" : "read") == 0)
			cmd = k;
	if (!cmd)
		abort();
	argv[argc++] = (char *)(uintptr_t)cmd->name;
	for (char *p = buf, *nl; argc <= MAX_ARGS; p = nl + 1) {
		argv[argc++] = p;
		if (!(nl = strchr(p, '\n')))
			break;
		*nl = '\0';
	}
	argv[argc] = NULL;

	why[0] = '\0';
	if (cli_parse_hostport(argv[1], host, sizeof host, &port, why, sizeof why) == 0)
		check_host(host, sizeof host, port);
	else if (!memchr(why, '\0', sizeof why) || why[0] == '\0')
		abort();

	memset(&c, 0, sizeof c);
	c.cfg = data[0] & 2 ? &cfg : NULL;
	r = cli_parse_cmd(&c, cmd, argc, argv, 1);
	if (r == CLI_EX_OK) {
		r = cli_target_resolve(&c, scan, &t);
		if (r == CLI_EX_OK)
			check_target(&c, &t);
	}
	if (r != CLI_EX_OK && r != CLI_EX_USAGE && r != CLI_EX_NOINPUT)
		abort();
	if (c.line.has_units && (c.line.unit_lo < 0 || c.line.unit_hi > 255 ||
				 c.line.unit_lo > c.line.unit_hi))
		abort();
	if ((c.line.has_unit && (c.line.unit < 0 || c.line.unit > 255)) ||
	    (c.line.has_address && (c.line.address < 0 || c.line.address > 65535)) ||
	    c.line.count < 0 || c.line.count > 2000 ||
	    (c.line.has_table && (unsigned)c.line.table >= POINT_NTABLES) ||
	    (c.line.has_type && (unsigned)c.line.type >= POINT_NTYPES) ||
	    (c.line.has_order && (unsigned)c.line.order >= POINT_NORDERS) ||
	    (c.line.has_scale && (!isfinite(c.line.scale) || c.line.scale == 0)))
		abort();
	free(buf);
	return 0;
}
