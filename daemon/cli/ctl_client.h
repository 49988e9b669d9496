/*
 * ctl_client: the command line's side of the daemon's control socket
 * (daemon/ctl.h; docs/control.md): one connection, one JSON request line
 * out, one JSON reply line back, each call bounded in time.
 */
#ifndef YW_CLI_CTL_CLIENT_H
#define YW_CLI_CTL_CLIENT_H

#include <jansson.h>
#include <stddef.h>

struct cli_ctl;

enum cli_ctl_rc {
	CLI_CTL_OK = 0,
	CLI_CTL_DOWN = -1,     /* nobody listens: no socket file, or refused */
	CLI_CTL_DENIED = -2,   /* the socket is there but we may not use it */
	CLI_CTL_FAIL = -3,     /* anything else: timeout, a broken reply */
};

/* Connect to PATH. ERR gets a one-line reason on failure. */
enum cli_ctl_rc cli_ctl_open(const char *path, struct cli_ctl **out, char *err, size_t errlen);

/* Send REQ (a JSON object; the reference is stolen, NULL is an error) and
 * wait at most TIMEOUT_MS for the reply line: *REPLY (owned by the caller)
 * is the reply object. */
enum cli_ctl_rc cli_ctl_call(struct cli_ctl *k, json_t *req, int timeout_ms, json_t **reply,
			     char *err, size_t errlen);

void cli_ctl_close(struct cli_ctl *k);

#endif
