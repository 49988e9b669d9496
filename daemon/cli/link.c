/*
 * link: the backends behind link.h, each a table of operations behind one
 * type: the daemon's control socket (docs/control.md: `modbus_read`, run by
 * the bus worker between two polls) for a bus the daemon polls, or the
 * command line's own driver (drivers/driver.h) on the line, for a bus the
 * daemon does not poll or when no daemon runs. cli_link_open() chooses:
 *  - the daemon answers and polls the line (T is a bus it polls, or a line
 *    of the config's bus it polls): through the daemon;
 *  - else a serial line another process holds (the driver flock()s its
 *    line; ttylock.h) is refused with exit 75, naming that process: its
 *    frames and ours would garble each other. So is a line of the config's
 *    serial or rtu-tcp buses while the daemon's socket is there but cannot
 *    be asked (permission, no answer): it may be polling that line;
 *  - else the command line talks to the line itself.
 *
 * The driver reports what it sees through one process-wide log callback.
 * The link keeps the lines of the request in progress instead of printing
 * them: a failed connect is a warning, each failed attempt a debug line
 * naming its reason; the last of them, without the name of the line it
 * starts with, is the reason cli_link_read() gives.
 * The command line is one thread, so one static buffer serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "../../drivers/ttylock.h"
#include "../bus.h"
#include "../util.h"
#include "cli.h"
#include "ctl_client.h"
#include "link.h"

struct cli_link_ops {
	enum drv_status (*read)(struct cli_link *l, int unit, enum yw_table t, uint16_t start,
				uint16_t count, uint16_t *out, int *exc);
	enum drv_status (*ready)(struct cli_link *l);
	void (*close)(struct cli_link *l);
};

struct cli_link {
	const struct cli_link_ops *ops;
	struct driver *drv;          /* the direct backend's driver (owned) */
	/* the daemon backend */
	struct cli_ctl *ctl;         /* owned */
	char bus[YW_ID_MAX];         /* the daemon's bus */
	int timeout_ms;              /* asked of the daemon (0: the bus's own) */
	int reply_ms;                /* how long an answer may take */
	char err[512];               /* the last failure's text */
};

static char link_warn[512];          /* the request's last warning or error */
static char link_note[512];          /* its last other line, but "connected" */

static bool link_ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);

	return n >= k && strcmp(s + n - k, tail) == 0;
}

/* The driver's lines start with the line they are about ("bus ID (HOST:PORT): "),
 * and a failed attempt with the request ("unit 5 read holding 0+1: REASON
 * (attempt 1)"): the command line names both itself; the reason is kept. */
static void link_drv_log(int level, const char *component, const char *msg)
{
	const char *end = strncmp(msg, "bus ", 4) == 0 ? strstr(msg, "): ") : NULL;
	char *buf = level <= 1 ? link_warn : link_note, *attempt;

	(void)component;
	if (end)
		msg = end + 3;
	if (strncmp(msg, "unit ", 5) == 0 && (end = strstr(msg, ": ")) != NULL)
		msg = end + 2;
	if (level > 1 && (link_ends_with(msg, "connected") || link_ends_with(msg, "after a timeout")))
		return;
	util_strlcpy(buf, msg, sizeof link_warn);
	if ((attempt = strstr(buf, " (attempt ")) != NULL)
		*attempt = '\0';
}

/* ---- the direct backend: our own driver on the line ---- */

static enum drv_status direct_read(struct cli_link *l, int unit, enum yw_table t,
				   uint16_t start, uint16_t count, uint16_t *out, int *exc)
{
	return driver_read(l->drv, unit, t, start, count, out, exc);
}

static enum drv_status direct_ready(struct cli_link *l)
{
	return driver_connect(l->drv);
}

static void direct_close(struct cli_link *l)
{
	driver_free(l->drv);
}

static const struct cli_link_ops direct_ops = { direct_read, direct_ready, direct_close };

int cli_link_open_direct(const struct cli_target *t, struct cli_link **out, char *err,
			 size_t errlen)
{
	struct cli_link *l = calloc(1, sizeof *l);

	*out = NULL;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	driver_set_log(link_drv_log, 3);
	link_warn[0] = link_note[0] = '\0';
	l->ops = &direct_ops;
	l->drv = driver_new(&t->s);
	if (!l->drv) {
		snprintf(err, errlen, "%s", link_warn[0] ? link_warn : "cannot set up the driver");
		free(l);
		return -1;
	}
	*out = l;
	return 0;
}

/* ---- the daemon backend: its control socket ---- */

#define LINK_BUSY_TRIES 100          /* "busy" answers waited out, 100 ms apart */

static enum drv_status daemon_status(const char *s)
{
	static const struct { const char *name; enum drv_status st; } map[] = {
		{ "exception", DRV_EXCEPTION }, { "gateway", DRV_GATEWAY },
		{ "timeout", DRV_TIMEOUT }, { "crc", DRV_CRC },
	};
	for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].name, s) == 0)
			return map[i].st;
	return DRV_LINK;
}

static enum drv_status daemon_read(struct cli_link *l, int unit, enum yw_table t,
				   uint16_t start, uint16_t count, uint16_t *out, int *exc)
{
	for (int tries = 0;; tries++) {
		json_t *req = json_pack("{s:s, s:{s:s, s:i, s:s, s:i, s:i}}", "cmd", "modbus_read",
					"args", "bus", l->bus, "unit", unit, "table",
					point_table_name(t), "address", (int)start, "count",
					(int)count), *reply = NULL;
		if (req && l->timeout_ms)
			json_object_set_new(json_object_get(req, "args"), "timeout_ms",
					    json_integer(l->timeout_ms));
		if (cli_ctl_call(l->ctl, req, l->reply_ms, &reply, l->err, sizeof l->err) !=
		    CLI_CTL_OK)
			return DRV_LINK;
		json_t *raw = json_object_get(reply, "raw");
		const char *st = json_string_value(json_object_get(reply, "status"));
		if (json_is_true(json_object_get(reply, "ok")) && json_array_size(raw) == count) {
			size_t i;
			json_t *v;
			json_array_foreach(raw, i, v)
				out[i] = (uint16_t)json_integer_value(v);
			json_decref(reply);
			return DRV_OK;
		}
		if (st && strcmp(st, "busy") == 0 && tries < LINK_BUSY_TRIES) {
			json_decref(reply);
			usleep(100 * 1000);
			continue;
		}
		enum drv_status ds = daemon_status(st);
		*exc = (int)json_integer_value(json_object_get(reply, "exception"));
		snprintf(l->err, sizeof l->err, "%s",
			 json_string_value(json_object_get(reply, "error")) ?
			 json_string_value(json_object_get(reply, "error")) : "the daemon refused");
		json_decref(reply);
		return ds;
	}
}

static enum drv_status daemon_ready(struct cli_link *l)
{
	(void)l;
	return DRV_OK;   /* the daemon answered its status: its bus worker has the line */
}

static void daemon_close(struct cli_link *l)
{
	cli_ctl_close(l->ctl);
}

static const struct cli_link_ops daemon_ops = { daemon_read, daemon_ready, daemon_close };

/* The bus of C's config on T's line (T's own bus for --bus), or -1. */
static int link_config_bus(const struct cli *c, const struct cli_target *t)
{
	for (size_t b = 0; c->cfg && b < c->cfg->nbuses; b++) {
		struct drv_settings s;
		if (t->bus_id[0]) {
			if (strcmp(c->cfg->buses[b].id, t->bus_id) == 0)
				return (int)b;
			continue;
		}
		bus_driver_settings(&c->cfg->buses[b], &s);
		bool serial = s.type == DRV_BUS_RTU;
		if ((s.type == t->s.type || (!serial && t->s.type != DRV_BUS_RTU)) &&
		    (serial ? strcmp(s.device, t->s.device) == 0 :
		     strcmp(s.host, t->s.host) == 0 && s.port == t->s.port))
			return (int)b;
	}
	return -1;
}

/* The daemon polls bus ID (its status reply). */
static bool link_daemon_polls(json_t *status, const char *id)
{
	size_t i;
	json_t *b;

	json_array_foreach(json_object_get(status, "buses"), i, b)
		if (strcmp(json_string_value(json_object_get(b, "id")) ?
			   json_string_value(json_object_get(b, "id")) : "", id) == 0)
			return json_is_true(json_object_get(b, "polled"));
	return false;
}

/* Try the daemon for T: 1 with *OUT when it polls T's line; 0 when it does
 * not (or does not run); -1 when its socket is there but cannot be asked
 * (ERR says why). */
static int link_open_daemon(struct cli *c, const struct cli_target *t, struct cli_link **out,
			    char *err, size_t errlen)
{
	struct cli_ctl *k = NULL;
	json_t *status = NULL;
	int b = link_config_bus(c, t);
	const char *path = c->ctl_path[0] ? c->ctl_path : (c->ctl_known ? "" : CONFIG_CONTROL_SOCKET);
	enum cli_ctl_rc rc = cli_ctl_open(path, &k, err, errlen);

	if (rc == CLI_CTL_OK)   /* the request is the call's to free */
		rc = cli_ctl_call(k, json_pack("{s:s}", "cmd", "status"), 3000, &status, err, errlen);
	if (rc != CLI_CTL_OK) {
		cli_ctl_close(k);
		return rc == CLI_CTL_DOWN ? 0 : -1;
	}
	if (b < 0 || !link_daemon_polls(status, c->cfg->buses[b].id)) {
		json_decref(status);
		cli_ctl_close(k);
		return 0;
	}
	json_decref(status);
	struct cli_link *l = calloc(1, sizeof *l);
	if (!l) {
		cli_ctl_close(k);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const struct bus_cfg *bc = &c->cfg->buses[b];
	l->ops = &daemon_ops;
	l->ctl = k;
	util_strlcpy(l->bus, bc->id, sizeof l->bus);
	/* the bus's own timeout and retries, unless T asks for others (scan) */
	if (t->s.timeout_ms != bc->timeout_ms || t->s.retries != bc->retries)
		l->timeout_ms = t->s.timeout_ms;
	/* behind at most 16 commands of the bus, each its timeout x tries, and a poll */
	l->reply_ms = 17 * bc->timeout_ms * (bc->retries + 1) + 5000;
	*out = l;
	return 1;
}

/* ---- the interface ---- */

int cli_link_open(struct cli *c, const struct cli_target *t, struct cli_link **out)
{
	char err[600];
	int d = link_open_daemon(c, t, out, err, sizeof err);
	int b = link_config_bus(c, t);

	if (d == 1)
		return CLI_EX_OK;
	if (d < 0 && b >= 0 && c->cfg->buses[b].type != BUS_TCP) {
		fprintf(stderr, "yardwatch: %s: the daemon may be polling this line, but its control "
			"socket cannot be asked (%s); not opened, so that its frames and ours do "
			"not collide\n", t->bus_id[0] ? t->bus_id : c->cfg->buses[b].id, err);
		return CLI_EX_TEMPFAIL;
	}
	if (t->s.type == DRV_BUS_RTU) {
		pid_t holder = ttylock_holder(t->s.device);
		if (holder > 0 && holder != getpid()) {
			fprintf(stderr, "yardwatch: %s is in use by process %ld (a yardwatchd that does "
				"not answer on its control socket, or another program): not opened, "
				"so that its frames and ours do not collide\n", t->s.device,
				(long)holder);
			return CLI_EX_TEMPFAIL;
		}
	}
	if (cli_link_open_direct(t, out, err, sizeof err) != 0) {
		fprintf(stderr, "yardwatch: %s\n", err);
		return CLI_EX_FAIL;
	}
	return CLI_EX_OK;
}

enum drv_status cli_link_read(struct cli_link *l, int unit, enum yw_table t, uint16_t start,
			      uint16_t count, uint16_t *out, int *exc, char *err, size_t errlen)
{
	enum drv_status st;
	int dummy;

	if (!exc)
		exc = &dummy;
	*exc = 0;
	link_warn[0] = link_note[0] = '\0';
	l->err[0] = '\0';
	st = l->ops->read(l, unit, t, start, count, out, exc);
	if (err && errlen)
		snprintf(err, errlen, "%s", st == DRV_OK || st == DRV_EXCEPTION || st == DRV_GATEWAY ?
			 "" : l->err[0] ? l->err : link_warn[0] ? link_warn :
			 link_note[0] ? link_note : driver_status_name(st));
	return st;
}

int cli_link_ready(struct cli_link *l, char *err, size_t errlen)
{
	link_warn[0] = link_note[0] = '\0';
	if (l->ops->ready(l) == DRV_OK)
		return 0;
	snprintf(err, errlen, "%s", link_warn[0] ? link_warn : link_note[0] ? link_note :
		 "cannot connect");
	return -1;
}

void cli_link_close(struct cli_link *l)
{
	if (!l)
		return;
	l->ops->close(l);
	free(l);
}
