/*
 * tcp: the listening sockets (--tcp: Modbus TCP, --rtu-tcp: RTU frames over
 * TCP) and their clients, up to SIM_MAX_CLIENTS in all, each with its own
 * input and output buffer; and the Modbus TCP transport: MBAP framing (a
 * bad header closes the connection), pipelined requests answered in order,
 * except that an answer a `late` fault holds back is overtaken by the
 * others (late.c). An rtu-tcp client's bytes go to rtutcp.c. All sockets
 * are non-blocking.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "pdu.h"
#include "sim.h"

/* Splits SPEC ("HOST:PORT", "[V6]:PORT", ":PORT" or "PORT") into HOST
 * (default 127.0.0.1) and PORT. -1 when malformed. */
static int tcp_parse_spec(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= hlen)
			return -1;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = '\0';
		colon = rb + 1;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		if ((size_t)(colon - spec) >= hlen)
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	} else {
		util_strlcpy(host, "127.0.0.1", hlen);
		colon = spec - 1;
	}
	if (host[0] == '\0')
		util_strlcpy(host, "127.0.0.1", hlen);
	if (util_strlcpy(port, colon + 1, plen) >= plen || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		return -1;
	return 0;
}

static const char *tcp_link_name(enum sim_link link)
{
	return link == LINK_TCP ? "tcp" : "rtu-tcp";
}

int tcp_listen(struct sim *s, const char *spec, enum sim_link link)
{
	const char *lname = tcp_link_name(link);
	char host[YW_TEXT_MAX], port[16], shown[YW_TEXT_MAX + 32];
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char nh[NI_MAXHOST], np[NI_MAXSERV];
	int fd = -1, one = 1, rc;

	if (tcp_parse_spec(spec, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr, "yardwatch-sim: --%s %s: expected HOST:PORT\n", lname, spec);
		return -2;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		log_error("sim", "%s %s: %s", lname, spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_error("sim", "%s %s: cannot listen: %s", lname, spec, strerror(errno));
		return -1;
	}
	if (link == LINK_TCP)
		s->lfd = fd;
	else
		s->rlfd = fd;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, nh, sizeof(nh), np, sizeof(np),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(shown, sizeof(shown), strchr(nh, ':') ? "[%s]:%s" : "%s:%s", nh, np);
	else
		util_strlcpy(shown, spec, sizeof(shown));
	log_info("sim", "listening on %s %s", lname, shown);
	return 0;
}

void tcp_close(struct sim *s, int i)
{
	struct sim_client *c = &s->clients[i];

	close(c->fd);
	c->fd = -1;
	c->inlen = 0;
	c->rin.len = 0;
	c->outlen = 0;
	late_drop(s, i);
}

void tcp_accept(struct sim *s, enum sim_link link)
{
	for (;;) {
		int lfd = link == LINK_TCP ? s->lfd : s->rlfd;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		int i;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("sim", "accept: %s", strerror(errno));
			return;
		}
		for (i = 0; i < SIM_MAX_CLIENTS && s->clients[i].fd >= 0; i++)
			;
		if (i == SIM_MAX_CLIENTS) {
			log_warn("sim", "more than %d clients; connection refused", SIM_MAX_CLIENTS);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->clients[i].fd = fd;
		s->clients[i].link = link;
		s->clients[i].inlen = 0;
		s->clients[i].rin.len = 0;
		s->clients[i].rin.discard = false;
		s->clients[i].outlen = 0;
		log_debug("sim", "%s client %d connected", tcp_link_name(link), i);
	}
}

int tcp_flush(struct sim *s, int i)
{
	struct sim_client *c = &s->clients[i];

	while (c->outlen > 0) {
		ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			tcp_close(s, i);
			return -1;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

/* Queues a late answer for client I; the poll loop sends it. */
void tcp_deliver(struct sim *s, int i, const uint8_t *b, size_t n)
{
	struct sim_client *c = &s->clients[i];

	if (c->fd < 0)
		return;
	if (c->outlen + n > SIM_OUT_CAP) {
		log_warn("sim", "tcp client %d does not read; a late answer dropped", i);
		return;
	}
	memcpy(c->out + c->outlen, b, n);
	c->outlen += n;
}

int tcp_process(struct sim *s, int i)
{
	struct sim_client *c = &s->clients[i];
	uint8_t adu[FRAME_MAX];

	while (c->inlen >= 7 && c->outlen + FRAME_MAX <= SIM_OUT_CAP) {
		unsigned tid = pdu_get16(c->in), proto = pdu_get16(c->in + 2);
		unsigned len = pdu_get16(c->in + 4), unit = c->in[6];
		int delay;
		size_t n;

		if (proto != 0 || len < 2 || len > 254) {
			log_debug("sim", "tcp: bad MBAP header (protocol %u, length %u); closing",
				  proto, len);
			model_bad_frame(&s->model);
			tcp_close(s, i);
			return -1;
		}
		if (c->inlen < 6 + (size_t)len)
			break;
		n = serve_request(s, LINK_TCP, unit, tid, c->in + 7, len - 1, adu, &delay);
		if (n > 0 && delay > 0) {
			late_push(s, i, util_mono_ms() + delay, adu, n);
		} else if (n > 0) {
			memcpy(c->out + c->outlen, adu, n);
			c->outlen += n;
		}
		memmove(c->in, c->in + 6 + len, c->inlen - 6 - len);
		c->inlen -= 6 + len;
	}
	return tcp_flush(s, i);
}

void tcp_read(struct sim *s, int i)
{
	struct sim_client *c = &s->clients[i];
	ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		log_debug("sim", "tcp client disconnected");
		tcp_close(s, i);
		return;
	}
	if (n > 0)
		c->inlen += (size_t)n;
	tcp_process(s, i);
}
