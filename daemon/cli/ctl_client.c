/*
 * ctl_client: see ctl_client.h.
 */
#include "ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../ctl.h"
#include "../util.h"

struct cli_ctl {
	int fd;
	char in[CTL_OUT_MAX];
	size_t inlen;
};

enum cli_ctl_rc cli_ctl_open(const char *path, struct cli_ctl **out, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct cli_ctl *k;

	*out = NULL;
	if (!path || !*path || strlen(path) >= sizeof a.sun_path) {
		snprintf(err, errlen, "no control socket");
		return CLI_CTL_DOWN;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	k = calloc(1, sizeof *k);
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return CLI_CTL_FAIL;
	}
	k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->fd < 0 || connect(k->fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		if (k->fd >= 0)
			close(k->fd);
		free(k);
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
			return CLI_CTL_DOWN;
		return e == EACCES || e == EPERM ? CLI_CTL_DENIED : CLI_CTL_FAIL;
	}
	*out = k;
	return CLI_CTL_OK;
}

static int left_ms(int64_t deadline)
{
	int64_t l = deadline - util_mono_ms();
	return l < 0 ? 0 : (int)l;
}

enum cli_ctl_rc cli_ctl_call(struct cli_ctl *k, json_t *req, int timeout_ms, json_t **reply,
			     char *err, size_t errlen)
{
	int64_t deadline = util_mono_ms() + timeout_ms;
	char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	size_t len, off = 0;

	json_decref(req);
	*reply = NULL;
	if (!line) {
		snprintf(err, errlen, "out of memory");
		return CLI_CTL_FAIL;
	}
	len = strlen(line);
	line[len++] = '\0';
	line[len - 1] = '\n';
	while (off < len) {
		ssize_t w = send(k->fd, line + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(err, errlen, "the daemon closed the control connection: %s",
				 strerror(errno));
			free(line);
			return CLI_CTL_FAIL;
		}
		off += (size_t)w;
	}
	free(line);
	for (;;) {
		char *nl = memchr(k->in, '\n', k->inlen);
		if (nl) {
			json_error_t je;
			size_t n = (size_t)(nl - k->in);
			*reply = json_loadb(k->in, n, 0, &je);
			memmove(k->in, nl + 1, k->inlen - n - 1);
			k->inlen -= n + 1;
			if (!*reply || !json_is_object(*reply)) {
				json_decref(*reply);
				*reply = NULL;
				snprintf(err, errlen, "the daemon's reply is not a JSON object");
				return CLI_CTL_FAIL;
			}
			return CLI_CTL_OK;
		}
		if (k->inlen == sizeof k->in) {
			snprintf(err, errlen, "the daemon's reply is too long");
			return CLI_CTL_FAIL;
		}
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(err, errlen, "no answer from the daemon within %d ms", timeout_ms);
			return CLI_CTL_FAIL;
		}
		ssize_t got = r < 0 ? -1 : recv(k->fd, k->in + k->inlen, sizeof k->in - k->inlen, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(err, errlen, "the daemon closed the control connection");
			return CLI_CTL_FAIL;
		}
		k->inlen += (size_t)got;
	}
}

void cli_ctl_close(struct cli_ctl *k)
{
	if (!k)
		return;
	close(k->fd);
	free(k);
}
