/*
 * link: where `read` and `scan` send their Modbus requests. A link is either
 * the command line's own driver on the line (a bus the daemon does not poll,
 * or no daemon at all) or the daemon's control socket (a bus the daemon
 * polls: its bus worker runs the request between two polls). read and scan
 * see only this interface.
 */
#ifndef YW_CLI_LINK_H
#define YW_CLI_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../drivers/driver.h"
#include "../config.h"

/* What the command line named: --bus ID (a bus of the config) or a line of
 * its own (--tcp, --rtu-tcp, --rtu with its serial settings). */
struct cli_target {
	char bus_id[YW_ID_MAX];      /* --bus ID; "" for a line of its own */
	struct drv_settings s;       /* the line's settings (from the config for --bus) */
};

struct cli;
struct cli_link;

/* target.c: the line C's TARGET options name (C->line; --bus in C->cfg),
 * with read's defaults or (SCAN) scan's. CLI_EX_OK, or the exit code after
 * the message (64 bad usage, 66 no such bus). */
int cli_target_resolve(struct cli *c, bool scan, struct cli_target *t);
/* T for people: "tcp 127.0.0.1:502", "rtu /dev/ttyS1 9600 8N1",
 * "bus lan (tcp 192.168.10.20:502)". */
void cli_target_name(const struct cli_target *t, char *buf, size_t len);

/* link.c: open the link to T: the daemon's control socket when it polls
 * that line, else the command line's own driver. CLI_EX_OK with *OUT (close
 * with cli_link_close), or the exit code after the message. */
int cli_link_open(struct cli *c, const struct cli_target *t, struct cli_link **out);
/* The command line's own driver on T's line (nothing is sent yet). 0, or
 * -1 with the reason in ERR. */
int cli_link_open_direct(const struct cli_target *t, struct cli_link **out, char *err,
			 size_t errlen);

/* Read COUNT registers or bits of table T from UNIT at START into OUT, as
 * driver_read() does (same statuses; *EXC on DRV_EXCEPTION / DRV_GATEWAY).
 * ERR (ERRLEN bytes) gets a one-line reason when the status is not DRV_OK
 * and not an exception. */
enum drv_status cli_link_read(struct cli_link *l, int unit, enum yw_table t, uint16_t start,
			      uint16_t count, uint16_t *out, int *exc, char *err, size_t errlen);

/* Make sure the line can be used before many requests go out (the direct
 * backend connects: a TCP endpoint accepts, a tty opens), so that a scan of
 * a line nobody is on ends at once. 0, or -1 with a one-line reason in ERR. */
int cli_link_ready(struct cli_link *l, char *err, size_t errlen);

void cli_link_close(struct cli_link *l);

#endif
