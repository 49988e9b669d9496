/*
 * ctl: the control socket's transport (see ctl.h).
 *
 * Bounds. A request longer than CTL_LINE_MAX gets one error reply and the
 * connection is closed once it is sent. Replies wait in a client's output
 * buffer while the client does not read; past CTL_OUT_MAX the client is
 * dropped. When all CTL_CLIENTS_MAX slots are taken, a new connection takes
 * the slot of the client idle longest that has no request running; if every
 * client has one running, the newcomer is told "busy" and closed. So a
 * client that connects and never speaks cannot lock anyone out.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CTL_COMP "ctl"

struct ctl_client {
	int fd;                     /* -1: free slot */
	uint32_t token;
	char in[CTL_LINE_MAX];
	size_t inlen;
	char *out;                  /* owned */
	size_t outlen, outcap;
	int64_t last_mono;          /* last request or reply */
	unsigned pending;           /* requests without a reply yet */
	bool closing;               /* close once OUT is sent */
};

struct ctl {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_request_fn fn;
	void *ctx;
	uint32_t gen;
	struct ctl_client cl[CTL_CLIENTS_MAX];
	int map[CTL_FDS_MAX];       /* ctl_pollfds order: -1 listener, else slot */
	int nmap;
};

static int ctl_bind(struct ctl *c, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof a.sun_path) {
		log_error(CTL_COMP, "%s: path too long for a unix socket", path);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error(CTL_COMP, "%s exists and is not a socket: not replaced", path);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof a) == 0) {
			close(probe);
			log_error(CTL_COMP, "%s: another process listens on it (another yardwatchd?)",
				  path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		if (unlink(path) != 0) {
			log_error(CTL_COMP, "%s: cannot remove the stale socket: %s", path,
				  strerror(errno));
			return -1;
		}
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		log_error(CTL_COMP, "socket: %s", strerror(errno));
		return -1;
	}
	/* The socket file is made 0660 at once: never briefly open to all. */
	mode_t old = umask(0117);
	int rc = bind(c->fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc != 0 || chmod(path, 0660) != 0 || listen(c->fd, 64) != 0) {
		log_error(CTL_COMP, "%s: cannot listen: %s", path, strerror(errno));
		if (rc == 0)
			unlink(path);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

struct ctl *ctl_open(const char *path, ctl_request_fn fn, void *ctx)
{
	struct ctl *c = calloc(1, sizeof *c);

	if (!c) {
		log_error(CTL_COMP, "out of memory");
		return NULL;
	}
	c->fn = fn;
	c->ctx = ctx;
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		c->cl[i].fd = -1;
	if (ctl_bind(c, path) != 0) {
		free(c);
		return NULL;
	}
	util_strlcpy(c->path, path, sizeof c->path);
	log_info(CTL_COMP, "listening on %s", path);
	return c;
}

static void client_drop(struct ctl_client *k)
{
	if (k->fd >= 0)
		close(k->fd);
	free(k->out);
	memset(k, 0, sizeof *k);
	k->fd = -1;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		client_drop(&c->cl[i]);
	close(c->fd);
	unlink(c->path);
	free(c);
}

const char *ctl_path(const struct ctl *c)
{
	return c->path;
}

/* Write what K has waiting; -1 when the client is gone. */
static int client_flush(struct ctl_client *k)
{
	while (k->outlen > 0) {
		ssize_t w = send(k->fd, k->out, k->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		memmove(k->out, k->out + w, k->outlen - (size_t)w);
		k->outlen -= (size_t)w;
	}
	return 0;
}

/* Queue TEXT (LEN bytes) for K; -1 when it would pass CTL_OUT_MAX. */
static int client_queue(struct ctl_client *k, const char *text, size_t len)
{
	if (k->outlen + len > CTL_OUT_MAX)
		return -1;
	if (k->outlen + len > k->outcap) {
		size_t cap = k->outcap ? k->outcap : 1024;
		while (cap < k->outlen + len)
			cap *= 2;
		char *p = realloc(k->out, cap);
		if (!p)
			return -1;
		k->out = p;
		k->outcap = cap;
	}
	memcpy(k->out + k->outlen, text, len);
	k->outlen += len;
	return 0;
}

static struct ctl_client *client_of(struct ctl *c, uint32_t token)
{
	struct ctl_client *k = &c->cl[token % CTL_CLIENTS_MAX];
	return k->fd >= 0 && k->token == token ? k : NULL;
}

/* A reply the transport makes itself (not counted as a request's). */
static void client_say(struct ctl_client *k, const char *json)
{
	if (client_queue(k, json, strlen(json)) == 0)
		(void)client_queue(k, "\n", 1);
}

int ctl_reply(struct ctl *c, uint32_t token, const char *json)
{
	struct ctl_client *k = client_of(c, token);

	if (!k)
		return -1;
	if (k->pending > 0)
		k->pending--;
	k->last_mono = util_mono_ms();
	if (client_queue(k, json, strlen(json)) != 0 || client_queue(k, "\n", 1) != 0 ||
	    client_flush(k) != 0) {
		log_warn(CTL_COMP, "a client that does not read its replies was dropped");
		client_drop(k);
		return -1;
	}
	return 0;
}

/* A free slot, or the slot of the client idle longest with nothing running
 * (dropped); -1 when every client waits for an answer. */
static int slot_for_newcomer(struct ctl *c)
{
	int best = -1;

	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		if (c->cl[i].fd < 0)
			return i;
		if (c->cl[i].pending == 0 &&
		    (best < 0 || c->cl[i].last_mono < c->cl[best].last_mono))
			best = i;
	}
	if (best >= 0)
		client_drop(&c->cl[best]);
	return best;
}

static void ctl_accept(struct ctl *c)
{
	for (;;) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn(CTL_COMP, "accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		int s = slot_for_newcomer(c);
		if (s < 0) {
			static const char busy[] =
				"{\"ok\": false, \"error\": \"busy: every control client waits for an answer; try again\"}\n";
			(void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		struct ctl_client *k = &c->cl[s];
		c->gen = (c->gen + 1) & 0x0fffffffu;
		k->fd = fd;
		k->token = (c->gen * CTL_CLIENTS_MAX + (uint32_t)s) & 0x7fffffffu;
		k->last_mono = util_mono_ms();
	}
}

/* Hand every complete line of K to the callback. K may be dropped by a
 * synchronous reply: the token is looked up again after each line. */
static void client_lines(struct ctl *c, struct ctl_client *k)
{
	uint32_t token = k->token;

	for (;;) {
		char *nl = memchr(k->in, '\n', k->inlen);
		if (!nl)
			break;
		size_t len = (size_t)(nl - k->in);
		char line[CTL_LINE_MAX];
		memcpy(line, k->in, len);
		line[len] = '\0';
		memmove(k->in, nl + 1, k->inlen - len - 1);
		k->inlen -= len + 1;
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			continue;
		k->pending++;
		k->last_mono = util_mono_ms();
		c->fn(c->ctx, token, line, len);
		k = client_of(c, token);
		if (!k)
			return;
	}
	if (k->inlen == sizeof k->in) {
		char msg[128];
		snprintf(msg, sizeof msg,
			 "{\"id\": null, \"ok\": false, \"error\": \"request too large (at most %d bytes)\"}",
			 CTL_LINE_MAX - 1);
		client_say(k, msg);
		k->inlen = 0;
		k->closing = true;
	}
}

static void client_read(struct ctl *c, struct ctl_client *k)
{
	for (;;) {
		if (k->closing)
			return;
		ssize_t r = recv(k->fd, k->in + k->inlen, sizeof k->in - k->inlen, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			client_drop(k);
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		k->inlen += (size_t)r;
		uint32_t token = k->token;
		client_lines(c, k);
		k = client_of(c, token);
		if (!k)
			return;
	}
}

int ctl_pollfds(struct ctl *c, struct pollfd *pfd)
{
	int n = 0;

	pfd[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
	c->map[n++] = -1;
	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		struct ctl_client *k = &c->cl[i];
		if (k->fd < 0)
			continue;
		short ev = k->closing ? 0 : POLLIN;
		if (k->outlen > 0)
			ev |= POLLOUT;
		pfd[n] = (struct pollfd){ .fd = k->fd, .events = ev };
		c->map[n++] = i;
	}
	c->nmap = n;
	return n;
}

void ctl_service(struct ctl *c, const struct pollfd *pfd, int n)
{
	for (int j = 0; j < n && j < c->nmap; j++) {
		if (!pfd[j].revents)
			continue;
		if (c->map[j] < 0) {
			ctl_accept(c);
			continue;
		}
		struct ctl_client *k = &c->cl[c->map[j]];
		if (k->fd != pfd[j].fd)
			continue;   /* dropped and reused while serving an earlier fd */
		if (pfd[j].revents & (POLLERR | POLLNVAL)) {
			client_drop(k);
			continue;
		}
		if (pfd[j].revents & (POLLIN | POLLHUP))
			client_read(c, k);
		if (k->fd == pfd[j].fd && client_flush(k) != 0)
			client_drop(k);
		else if (k->fd == pfd[j].fd && k->closing && k->outlen == 0)
			client_drop(k);
	}
}
