/*
 * ctl: the daemon's control socket, as chronyd's is for chronyc. A unix
 * stream socket (the config's control_socket, mode 0660: the daemon's user
 * and group may talk to it) on which `yardwatch` sends one JSON request per
 * line and gets one JSON reply per line (docs/control.md).
 *
 * This file is the transport only: it accepts clients, frames lines, bounds
 * what a client may hold (CTL_LINE_MAX bytes of request, CTL_OUT_MAX of
 * unread replies, CTL_CLIENTS_MAX clients), and never blocks: every socket
 * is non-blocking and served from the main loop's poll(). A complete line
 * goes to the request callback with the client's token; the answer comes
 * back through ctl_reply(), at once or later (a bus command answers when the
 * bus worker has run it). A token names one connection: a reply for a
 * client that has gone is dropped, never sent to a newer client in its slot.
 */
#ifndef YW_CTL_H
#define YW_CTL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_LINE_MAX 4096       /* one request, newline included */
#define CTL_OUT_MAX 65536       /* replies a client has not read yet */
#define CTL_CLIENTS_MAX 8
#define CTL_FDS_MAX (CTL_CLIENTS_MAX + 1)

struct ctl;

/* A complete request LINE (LEN bytes, no newline, NUL-terminated) from
 * client TOKEN. */
typedef void (*ctl_request_fn)(void *ctx, uint32_t token, const char *line, size_t len);

/* Listen on PATH. A stale socket file (nobody listening) is replaced; a
 * socket another process answers on, or a file that is not a socket, is
 * left alone and the open fails. NULL on failure (logged): the daemon runs
 * on without it. */
struct ctl *ctl_open(const char *path, ctl_request_fn fn, void *ctx);
/* Close every client and the socket, and remove the socket file. */
void ctl_close(struct ctl *c);
const char *ctl_path(const struct ctl *c);

/* The descriptors to poll (at most CTL_FDS_MAX into PFD); their count. */
int ctl_pollfds(struct ctl *c, struct pollfd *pfd);
/* Serve what poll() reported for the N descriptors of ctl_pollfds(). */
void ctl_service(struct ctl *c, const struct pollfd *pfd, int n);

/* Send JSON (one line, without its newline) to client TOKEN. 0, or -1 when
 * the client has gone (or could not take it and was dropped). */
int ctl_reply(struct ctl *c, uint32_t token, const char *json);

#endif
