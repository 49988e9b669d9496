/*
 * rtutcp: Modbus RTU frames over TCP (--rtu-tcp), as a serial device server
 * in transparent mode carries them. Each client of the rtu-tcp listener
 * (tcp.c accepts it) is one byte stream, framed by rtu.c as the tty is (by
 * length, or by silence; a bad CRC drops input until silence; no answer to
 * a unit nobody plays), with the devices routed for rtu-tcp; answers are
 * RTU frames, faults those of the RTU line, queued on the client's output
 * buffer. Several clients may be connected at once, each its own line.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "../../daemon/log.h"
#include "sim.h"

void rtutcp_read(struct sim *s, int i)
{
	struct sim_client *c = &s->clients[i];
	size_t room;
	uint8_t *at = rtu_in_room(&c->rin, &room);
	ssize_t n = recv(c->fd, at, room, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		log_debug("sim", "rtu-tcp client %d disconnected", i);
		tcp_close(s, i);
		return;
	}
	if (n > 0)
		rtu_in_got(s, &c->rin, i, (size_t)n);
	if (c->fd >= 0)
		tcp_flush(s, i);
}

void rtutcp_queue(struct sim *s, int i, const uint8_t *b, size_t n)
{
	struct sim_client *c = &s->clients[i];

	if (c->fd < 0)
		return;
	if (c->outlen + n > SIM_OUT_CAP) {
		log_warn("sim", "rtu-tcp client %d does not read; an answer dropped", i);
		return;
	}
	memcpy(c->out + c->outlen, b, n);
	c->outlen += n;
}

int64_t rtutcp_timers(struct sim *s, int64_t now)
{
	int64_t next = INT64_MAX;

	if (!s->clients)
		return next;
	for (int i = 0; i < SIM_MAX_CLIENTS; i++) {
		struct sim_client *c = &s->clients[i];
		int64_t t;

		if (c->fd < 0 || c->link != LINK_RTU_TCP)
			continue;
		t = rtu_in_timer(s, &c->rin, i, now);
		if (c->fd >= 0 && c->outlen > 0)
			tcp_flush(s, i);
		if (t < next)
			next = t;
	}
	return next;
}
