/*
 * rtutcp: the I/O of the rtu-tcp bus type. Modbus RTU frames (rtuframe.c)
 * on a TCP connection to a serial device server (USR-TCP232, Moxa NPort) in
 * transparent mode: the server puts our bytes on the RS-485 line and sends
 * back what the line carries, cut into TCP segments wherever its own timers
 * cut them. No libmodbus here (it has no RTU-over-TCP backend); modbus.c
 * keeps the connection, the retries, the pacing and the log lines.
 *
 * Connect: getaddrinfo() on every connect (a host name may move), each
 * address in turn, a non-blocking connect bounded by timeout_ms each.
 *
 * One request: whatever is pending on the socket is dropped first (a late
 * answer that came after the last drain), the ADU is written, and the answer
 * is read with poll() until rtu_scan() finds it (garbage before it is
 * dropped) or timeout_ms has passed since the request was written: the
 * whole answer must come within it (the line's time to carry it included:
 * 255 bytes take 270 ms at 9600 baud). Bytes that hold no answer by then
 * (garbage, a short frame, a bad CRC, a frame of another unit) are
 * DRV_EGARBLED (DRV_CRC); no byte at all is ETIMEDOUT (DRV_TIMEOUT).
 *
 * After a timeout or a bad answer (modbus.c's recovery) the connection is
 * kept and drained: bytes are read and dropped until it has been silent for
 * the quiet time, timeout_ms / 2 (20 ms at least): the rest of a garbled
 * answer, or an answer that came too late, must never be read as the answer
 * to the next request (RTU frames carry no transaction id). A reconnect
 * would not do that by itself: an immediate reconnect still receives an
 * answer that is on its way on the line, and a serial server may pass on to
 * its next client what the line said in between. Draining keeps the
 * connection (a serial server may take one client at a time and notice a
 * closed connection late), costs a silent device timeout_ms / 2 more per
 * try, and leaves one case, as on any RTU line: an answer later than
 * 1.5 x timeout_ms after its request, to a request of the same unit,
 * function and length, can still be taken for the answer to a later one
 * (raise timeout_ms for such a device). A line that does not go quiet
 * within 4 x timeout_ms gets a new connection.
 */
#include "drv_int.h"
#include "rtuframe.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RTUTCP_QUIET_MIN_MS 20
#define RTUTCP_FLUSH_MAX 4096    /* bytes dropped before a request, at most */

static int64_t rtutcp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for EVENTS on FD until the monotonic DEADLINE (ms). 1 ready, 0 the
 * deadline passed, -1 with errno. */
static int rtutcp_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - rtutcp_now_ms();
		struct pollfd pfd = { .fd = fd, .events = events };
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

int rtutcp_quiet_ms(int timeout_ms)
{
	int q = timeout_ms / 2;

	return q < RTUTCP_QUIET_MIN_MS ? RTUTCP_QUIET_MIN_MS : q;
}

/* Connect FD to AI within TIMEOUT_MS. 0, or -1 with errno. */
static int rtutcp_connect_one(int fd, const struct addrinfo *ai, int timeout_ms)
{
	int soerr = 0;
	socklen_t sl = sizeof soerr;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	switch (rtutcp_wait(fd, POLLOUT, rtutcp_now_ms() + timeout_ms)) {
	case 0:
		errno = ETIMEDOUT;
		return -1;
	case -1:
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

int rtutcp_connect(const char *host, int port, int timeout_ms)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[16];
	int fd = -1, err = ECONNREFUSED, one = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof service, "%d", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		errno = rc == EAI_SYSTEM ? errno : DRV_ERESOLVE;
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (rtutcp_connect_one(fd, ai, timeout_ms) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = err;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Drop what has already arrived on FD, without waiting. 0, or -1 with errno
 * (ECONNRESET when the peer closed). */
static int rtutcp_flush(int fd)
{
	uint8_t junk[256];

	for (size_t total = 0; total < RTUTCP_FLUSH_MAX;) {
		ssize_t n = recv(fd, junk, sizeof junk, MSG_DONTWAIT);

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
	return 0;   /* more is coming: rtu_scan() drops it as garbage */
}

static int rtutcp_send(int fd, const uint8_t *b, size_t n, int64_t deadline)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(fd, b + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		rc = rtutcp_wait(fd, POLLOUT, deadline);
		if (rc <= 0) {
			if (rc == 0)
				errno = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}

int rtutcp_exchange(int fd, uint8_t unit, const uint8_t *pdu, size_t len, uint8_t *rsp,
		    int timeout_ms)
{
	uint8_t adu[RTU_ADU_MAX], buf[2 * RTU_ADU_MAX];
	size_t n = rtu_wrap(adu, unit, pdu, len), have = 0;
	bool seen = false;           /* bytes came */
	int64_t deadline;

	if (n == 0 || rtu_answer_len(pdu, len) == 0) {
		errno = EINVAL;
		return -1;
	}
	if (rtutcp_flush(fd) != 0)
		return -1;
	deadline = rtutcp_now_ms() + timeout_ms;
	if (rtutcp_send(fd, adu, n, deadline) != 0)
		return -1;
	deadline = rtutcp_now_ms() + timeout_ms;
	for (;;) {
		struct rtu_scan r = rtu_scan(buf, have, unit, pdu, len);
		ssize_t got;
		int rc;

		if (r.kind == RTU_FRAME) {
			memcpy(rsp, buf + r.off + 1, r.n - 3);
			return (int)r.n - 3;
		}
		if (r.kind == RTU_SKIP) {
			memmove(buf, buf + r.n, have - r.n);
			have -= r.n;
			continue;
		}
		rc = rtutcp_wait(fd, POLLIN, deadline);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			errno = seen ? DRV_EGARBLED : ETIMEDOUT;
			return -1;
		}
		got = recv(fd, buf + have, sizeof buf - have, MSG_DONTWAIT);
		if (got == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		have += (size_t)got;
		seen = true;
	}
}

int rtutcp_drain(int fd, int quiet_ms, int max_ms)
{
	int64_t end = rtutcp_now_ms() + max_ms;
	uint8_t junk[256];

	for (;;) {
		ssize_t n;

		switch (rtutcp_wait(fd, POLLIN, rtutcp_now_ms() + quiet_ms)) {
		case 0:
			return 0;
		case -1:
			return -1;
		}
		n = recv(fd, junk, sizeof junk, MSG_DONTWAIT);
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (rtutcp_now_ms() >= end) {
			errno = DRV_ENOQUIET;
			return -1;
		}
	}
}
