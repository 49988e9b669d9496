/*
 * link: the backends behind link.h, each a table of operations behind one
 * type. Today there is one: the command line's own driver
 * (drivers/driver.h) on the line, for a bus the daemon does not poll or
 * when no daemon runs. The daemon's control socket is the other backend to
 * come; cli_link_open() is where the choice is made.
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

#include "../util.h"
#include "cli.h"
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

/* ---- the interface ---- */

int cli_link_open(struct cli *c, const struct cli_target *t, struct cli_link **out)
{
	char err[600];

	(void)c;
	/* Here the daemon's control socket is tried first: when the daemon
	 * polls T's line (C->cfg names its socket), the requests go through
	 * it and its bus worker runs them between two polls; a serial line
	 * held by a daemon that cannot be reached is refused (exit 75). Until
	 * then, and for a line no daemon polls, the command line talks itself. */
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
	st = l->ops->read(l, unit, t, start, count, out, exc);
	if (err && errlen)
		snprintf(err, errlen, "%s", st == DRV_OK || st == DRV_EXCEPTION || st == DRV_GATEWAY ?
			 "" : link_warn[0] ? link_warn : link_note[0] ? link_note :
			 driver_status_name(st));
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
