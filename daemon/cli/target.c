/*
 * target: the TARGET of read and scan (SPEC "yardwatch (command line)"):
 * `--bus ID` (a bus of the config, with its settings) or a line of its own:
 * `--tcp HOST:PORT`, `--rtu-tcp HOST:PORT`, `--rtu TTY` with `--baud`,
 * `--parity`, `--data-bits`, `--stop-bits`; and `--timeout-ms`. Parses the
 * options as given (cli_target_opt) and turns them into the driver's
 * settings (cli_target_resolve); also the strict number parsing the
 * commands' other options use.
 *
 * Decisions where the SPEC is silent:
 *  - Exactly one of --bus, --tcp, --rtu-tcp, --rtu. Serial options only
 *    with --rtu (a bus of the config brings its own); --timeout-ms with any.
 *  - HOST:PORT needs the port; an IPv6 address goes in brackets
 *    ([fe80::1]:502). Numbers are decimal, or hex with 0x (--address 0xFC02).
 *  - Defaults of a line of its own: 9600 8N1; read waits 1000 ms on tcp and
 *    rtu-tcp, 300 ms on rtu, and sends a request once (no retries: the
 *    operator sees what the device answers). With --bus, read takes the
 *    bus's timeout, retries, RS-485 mode and inter-frame delay.
 *  - scan waits 200 ms on tcp, 300 ms on rtu-tcp, and on rtu 100 ms at
 *    9600 baud and above (60 ms plus 30 character times below: 1200 baud
 *    gets 335 ms), never retries, whatever the bus says: it asks up to 247
 *    units, most of which are not there. --timeout-ms overrides.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bus.h"
#include "../util.h"
#include "cli.h"
#include "link.h"

int cli_parse_int(const char *s, long long lo, long long hi, int *out)
{
	long long v;
	char *end;
	int base = 10;

	if (!s || !*s)
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	/* digits only: no sign or blank that strtoll would take */
	if (!((*s >= '0' && *s <= '9') || (base == 16 && ((*s >= 'a' && *s <= 'f') ||
							  (*s >= 'A' && *s <= 'F')))) &&
	    !(*s == '-' && base == 10 && s[1] >= '0' && s[1] <= '9'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, base);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int cli_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *why,
		       size_t whylen)
{
	const char *colon, *h = s;
	size_t n, nd;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close) {
			snprintf(why, whylen, "an IPv6 address in brackets needs its ']'");
			return -1;
		}
		if (close[1] != ':') {
			snprintf(why, whylen, "the port is missing after ']'");
			return -1;
		}
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(why, whylen, "the port is missing");
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(why, whylen, "an IPv6 address goes in brackets: [ADDRESS]:PORT");
			return -1;
		}
		n = (size_t)(colon - s);
	}
	if (n == 0) {
		snprintf(why, whylen, "the host is missing");
		return -1;
	}
	if (n >= hostlen) {
		snprintf(why, whylen, "the host is longer than %zu characters", hostlen - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == 0x7f || h[i] == '[' || h[i] == ']' ||
		    h[i] == '/') {
			snprintf(why, whylen, "the host has a character no host name has");
			return -1;
		}
	nd = strspn(colon + 1, "0123456789");
	if (nd == 0 || colon[1 + nd] != '\0' || cli_parse_int(colon + 1, 1, 65535, port) != 0) {
		snprintf(why, whylen, "the port must be a number in 1..65535");
		return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

int cli_int_opt(int argc, char **argv, int *i, const char *opt, long long lo, long long hi,
		int *out, bool *used)
{
	bool missing;
	const char *v = cli_opt_value(argc, argv, i, opt, &missing);

	if (!v && !missing)
		return CLI_EX_OK;
	*used = true;
	if (missing)
		return cli_usage_error("%s needs a number", opt);
	if (cli_parse_int(v, lo, hi, out) != 0)
		return cli_usage_error("%s: '%s' is not a number in %lld..%lld", opt, v, lo, hi);
	return CLI_EX_OK;
}

/* A string option OPT: *OUT, counting a target in *NTARGETS when given. */
static int cli_str_opt(int argc, char **argv, int *i, const char *opt, const char **out,
		       int *ntargets, bool *used)
{
	bool missing;
	const char *v = cli_opt_value(argc, argv, i, opt, &missing);

	if (!v && !missing)
		return CLI_EX_OK;
	*used = true;
	if (missing || !*v)
		return cli_usage_error("%s needs a value", opt);
	if (*out)
		return cli_usage_error("%s given twice", opt);
	*out = v;
	(*ntargets)++;
	return CLI_EX_OK;
}

static const int cli_bauds[] = { 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400 };

int cli_target_opt(struct cli *c, int argc, char **argv, int *i, bool *used)
{
	struct cli_line_args *a = &c->line;
	static const char *const names[] = { "--bus", "--tcp", "--rtu-tcp", "--rtu" };
	const char **dst[] = { &a->bus, &a->tcp, &a->rtu_tcp, &a->rtu };
	const char *v;
	bool missing;
	int r = CLI_EX_OK, baud = 0;

	*used = false;
	for (size_t k = 0; k < 4 && !*used; k++)
		r = cli_str_opt(argc, argv, i, names[k], dst[k], &a->ntargets, used);
	if (*used)
		return r;
	r = cli_int_opt(argc, argv, i, "--baud", 1, 4000000, &baud, used);
	if (*used) {
		size_t k = 0;

		while (k < sizeof cli_bauds / sizeof *cli_bauds && cli_bauds[k] != baud)
			k++;
		if (r == CLI_EX_OK && k == sizeof cli_bauds / sizeof *cli_bauds)
			r = cli_usage_error("--baud: %d is not one of 1200, 2400, 4800, 9600, 19200, "
					    "38400, 57600, 115200, 230400", baud);
		if (r == CLI_EX_OK)
			a->baud = baud;
		return r;
	}
	r = cli_int_opt(argc, argv, i, "--data-bits", 7, 8, &a->data_bits, used);
	if (!*used)
		r = cli_int_opt(argc, argv, i, "--stop-bits", 1, 2, &a->stop_bits, used);
	if (!*used)
		r = cli_int_opt(argc, argv, i, "--timeout-ms", 10, 10000, &a->timeout_ms, used);
	if (*used)
		return r;
	v = cli_opt_value(argc, argv, i, "--parity", &missing);
	if (!v && !missing)
		return CLI_EX_OK;
	*used = true;
	if (!v || strlen(v) != 1 || !strchr("NEO", v[0]))
		return cli_usage_error("--parity needs N, E or O");
	a->parity = v[0];
	return CLI_EX_OK;
}

/* Scan's wait on a serial line: 100 ms at 9600 baud and above, else 60 ms
 * plus 30 characters of 11 bits. */
static int cli_scan_rtu_timeout(int baud)
{
	int ms = 60 + 330000 / (baud > 0 ? baud : 9600);

	return ms < 100 ? 100 : ms;
}

/* --bus ID: the bus's settings from the config. */
static int cli_target_bus(struct cli *c, struct cli_target *t)
{
	const struct cli_line_args *a = &c->line;

	if (a->baud || a->parity || a->data_bits || a->stop_bits)
		return cli_usage_error("--baud, --parity, --data-bits and --stop-bits go with --rtu "
				       "(bus %s has its own settings in the config)", a->bus);
	if (!c->cfg) {
		fprintf(stderr, "yardwatch: --bus %s: no config to find the bus in (%s: not found "
			"or not valid; name one with -c FILE)\n", a->bus,
			c->cfg_file ? c->cfg_file : CLI_DEFAULT_CONFIG);
		return CLI_EX_NOINPUT;
	}
	for (size_t k = 0; k < c->cfg->nbuses; k++) {
		if (strcmp(c->cfg->buses[k].id, a->bus) != 0)
			continue;
		util_strlcpy(t->bus_id, a->bus, sizeof t->bus_id);
		bus_driver_settings(&c->cfg->buses[k], &t->s);
		return CLI_EX_OK;
	}
	fprintf(stderr, "yardwatch: --bus %s: no such bus in %s (its buses:", a->bus, c->cfg->path);
	for (size_t k = 0; k < c->cfg->nbuses; k++)
		fprintf(stderr, " %s", c->cfg->buses[k].id);
	fputs(")\n", stderr);
	return CLI_EX_NOINPUT;
}

int cli_target_resolve(struct cli *c, bool scan, struct cli_target *t)
{
	const struct cli_line_args *a = &c->line;
	const char *hp = a->tcp ? a->tcp : a->rtu_tcp;
	char why[128];
	int r;

	memset(t, 0, sizeof *t);
	if (a->ntargets != 1)
		return cli_usage_error("%s needs one TARGET: --bus ID, --tcp HOST:PORT, "
				       "--rtu-tcp HOST:PORT or --rtu TTY%s", scan ? "scan" : "read",
				       a->ntargets ? " (not several)" : "");
	if (a->bus) {
		if ((r = cli_target_bus(c, t)) != CLI_EX_OK)
			return r;
	} else if (hp) {
		const char *opt = a->tcp ? "--tcp" : "--rtu-tcp";

		if (a->baud || a->parity || a->data_bits || a->stop_bits)
			return cli_usage_error("--baud, --parity, --data-bits and --stop-bits go "
					       "with --rtu, not %s", opt);
		if (cli_parse_hostport(hp, t->s.host, sizeof t->s.host, &t->s.port, why,
				       sizeof why) != 0)
			return cli_usage_error("%s '%s': %s (want HOST:PORT, e.g. 192.168.10.20:502 "
					       "or [fe80::1]:502)", opt, hp, why);
		t->s.type = a->tcp ? DRV_BUS_TCP : DRV_BUS_RTU_TCP;
		util_strlcpy(t->s.id, opt + 2, sizeof t->s.id);
		t->s.timeout_ms = 1000;
	} else {
		if (strlen(a->rtu) >= sizeof t->s.device)
			return cli_usage_error("--rtu: the device's path is too long");
		t->s.type = DRV_BUS_RTU;
		util_strlcpy(t->s.id, "rtu", sizeof t->s.id);
		util_strlcpy(t->s.device, a->rtu, sizeof t->s.device);
		t->s.baud = a->baud ? a->baud : 9600;
		t->s.parity = a->parity ? a->parity : 'N';
		t->s.data_bits = a->data_bits ? a->data_bits : 8;
		t->s.stop_bits = a->stop_bits ? a->stop_bits : 1;
		t->s.timeout_ms = 300;
	}
	if (scan) {
		t->s.retries = 0;
		t->s.timeout_ms = t->s.type == DRV_BUS_TCP ? 200 : t->s.type == DRV_BUS_RTU_TCP ? 300 :
				  cli_scan_rtu_timeout(t->s.baud);
	}
	if (a->timeout_ms)
		t->s.timeout_ms = a->timeout_ms;
	return CLI_EX_OK;
}

void cli_target_name(const struct cli_target *t, char *buf, size_t len)
{
	char line[1100];

	if (t->s.type == DRV_BUS_RTU)
		snprintf(line, sizeof line, "rtu %.1000s %d %d%c%d", t->s.device, t->s.baud,
			 t->s.data_bits, t->s.parity, t->s.stop_bits);
	else
		snprintf(line, sizeof line, "%s %s%.255s%s:%d",
			 t->s.type == DRV_BUS_TCP ? "tcp" : "rtu-tcp", strchr(t->s.host, ':') ? "[" : "",
			 t->s.host, strchr(t->s.host, ':') ? "]" : "", t->s.port);
	if (t->bus_id[0])
		snprintf(buf, len, "bus %s (%s)", t->bus_id, line);
	else
		snprintf(buf, len, "%s", line);
}
