/*
 * rtu: the Modbus RTU transport on a tty (a serial line or one end of a
 * socat pty pair). Opens and configures the line, reopens it every second
 * when it goes away; writes the answers.
 *
 * And the framing of an RTU byte stream, the tty's or an rtu-tcp client's
 * (struct rtu_in; the channel says where answers go): cuts request frames
 * out of it by their length (FC 1-6, 15, 16) or by 50 ms of silence (other
 * function codes); drops a frame with a bad CRC together with everything up
 * to the next silence, as a real device does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "sim.h"

static speed_t rtu_speed(int baud)
{
	switch (baud) {
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	default: return B0;
	}
}

bool rtu_baud_ok(int baud)
{
	return rtu_speed(baud) != B0;
}

/* Serial settings: the --bus bus if it is RTU, else the config's first RTU
 * bus, else 9600 8N1. */
void rtu_settings(struct sim *s)
{
	struct sim_rtu *r = &s->rtu;
	const struct bus_cfg *b = NULL;

	r->baud = 9600;
	r->parity = 'N';
	r->data_bits = 8;
	r->stop_bits = 1;
	if (s->bus_filter >= 0 && s->cfg->buses[s->bus_filter].type == BUS_RTU)
		b = &s->cfg->buses[s->bus_filter];
	for (size_t i = 0; !b && i < s->cfg->nbuses; i++)
		if (s->cfg->buses[i].type == BUS_RTU)
			b = &s->cfg->buses[i];
	if (b) {
		r->baud = b->baud;
		r->parity = b->parity;
		r->data_bits = b->data_bits;
		r->stop_bits = b->stop_bits;
	}
}

int rtu_open(struct sim_rtu *r, bool quiet)
{
	struct termios tio;
	speed_t sp = rtu_speed(r->baud);
	int fd = open(r->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		if (!quiet)
			log_error("sim", "rtu %s: %s", r->path, strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &tio) != 0) {
		if (!quiet)
			log_error("sim", "rtu %s: not a tty: %s", r->path, strerror(errno));
		close(fd);
		return -1;
	}
	cfmakeraw(&tio);
	cfsetispeed(&tio, sp);
	cfsetospeed(&tio, sp);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	tio.c_cflag |= r->data_bits == 7 ? CS7 : CS8;
	if (r->parity == 'E')
		tio.c_cflag |= PARENB;
	else if (r->parity == 'O')
		tio.c_cflag |= PARENB | PARODD;
	if (r->stop_bits == 2)
		tio.c_cflag |= CSTOPB;
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) != 0) {
		if (!quiet)
			log_error("sim", "rtu %s: cannot set line: %s", r->path, strerror(errno));
		close(fd);
		return -1;
	}
	tcflush(fd, TCIOFLUSH);
	r->fd = fd;
	r->in.len = 0;
	r->in.discard = false;
	return 0;
}

void rtu_lost(struct sim_rtu *r, const char *why)
{
	log_warn("sim", "rtu %s: %s; reopening every %d ms", r->path, why, SIM_RTU_REOPEN_MS);
	close(r->fd);
	r->fd = -1;
	r->in.len = 0;
	r->reopen_ms = util_mono_ms() + SIM_RTU_REOPEN_MS;
}

/* Length of the request frame starting in B (unit, fc, ...): 0 when more
 * bytes are needed to tell, SIZE_MAX when only silence can end it. */
static size_t rtu_frame_len(const uint8_t *b, size_t len)
{
	if (len < 2)
		return 0;
	switch (b[1]) {
	case 1: case 2: case 3: case 4: case 5: case 6:
		return 8;
	case 15: case 16:
		return len < 7 ? 0 : 9 + (size_t)b[6];
	default:
		return SIZE_MAX;
	}
}

void rtu_send(struct sim_rtu *r, const uint8_t *b, size_t n)
{
	int64_t deadline = util_mono_ms() + 1000;

	while (n > 0 && r->fd >= 0) {
		ssize_t w = write(r->fd, b, n);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR) && util_mono_ms() < deadline) {
			struct pollfd pfd = { .fd = r->fd, .events = POLLOUT };

			poll(&pfd, 1, 50);
			continue;
		}
		rtu_lost(r, w < 0 ? strerror(errno) : "write failed");
	}
}

/* The stream of CHAN is still there (a closed tty or client takes its
 * buffered bytes with it). */
static bool rtu_chan_open(const struct sim *s, int chan)
{
	return chan == LATE_RTU ? s->rtu.fd >= 0 : s->clients[chan].fd >= 0;
}

static const char *rtu_chan_name(int chan)
{
	return chan == LATE_RTU ? "rtu" : "rtu-tcp";
}

/* One complete frame with a good CRC, from CHAN. */
static void rtu_frame(struct sim *s, int chan, const uint8_t *b, size_t n)
{
	uint8_t adu[FRAME_MAX];
	int delay;
	enum sim_link link = chan == LATE_RTU ? LINK_RTU : LINK_RTU_TCP;
	size_t len = serve_request(s, link, b[0], 0, b + 1, n - 3, adu, &delay);

	if (len > 0 && delay > 0)
		late_push(s, chan, util_mono_ms() + delay, adu, len);
	else if (len > 0 && chan == LATE_RTU)
		rtu_send(&s->rtu, adu, len);
	else if (len > 0)
		rtutcp_queue(s, chan, adu, len);
}

/* Frames whose length the header tells. */
static void rtu_process(struct sim *s, struct rtu_in *in, int chan)
{
	while (rtu_chan_open(s, chan) && in->len > 0 && !in->discard) {
		size_t fl = rtu_frame_len(in->buf, in->len);

		if (fl == 0 || fl == SIZE_MAX || in->len < fl)
			return;
		if (!frame_crc_ok(in->buf, fl)) {
			model_bad_frame(&s->model);
			log_debug("sim", "%s: bad CRC; dropping input until the line is silent",
				  rtu_chan_name(chan));
			in->discard = true;
			return;
		}
		rtu_frame(s, chan, in->buf, fl);
		memmove(in->buf, in->buf + fl, in->len - fl);
		in->len -= fl;
	}
}

/* The stream has been silent: what is left is one frame of unknown length,
 * or the rest of a bad one. */
static void rtu_silence(struct sim *s, struct rtu_in *in, int chan)
{
	if (!in->discard && rtu_frame_len(in->buf, in->len) == SIZE_MAX &&
	    frame_crc_ok(in->buf, in->len)) {
		rtu_frame(s, chan, in->buf, in->len);
	} else if (!in->discard) {
		model_bad_frame(&s->model);
		log_debug("sim", "%s: incomplete or corrupt frame of %zu bytes dropped",
			  rtu_chan_name(chan), in->len);
	}
	in->len = 0;
	in->discard = false;
}

uint8_t *rtu_in_room(struct rtu_in *in, size_t *room)
{
	if (in->len == sizeof(in->buf)) {
		in->len = 0;
		in->discard = true;
	}
	*room = sizeof(in->buf) - in->len;
	return in->buf + in->len;
}

void rtu_in_got(struct sim *s, struct rtu_in *in, int chan, size_t n)
{
	in->last_rx_ms = util_mono_ms();
	if (in->discard)
		in->len = 0;   /* still dropping: keep only the silence timer going */
	else
		in->len += n;
	rtu_process(s, in, chan);
}

int64_t rtu_in_timer(struct sim *s, struct rtu_in *in, int chan, int64_t now)
{
	int64_t quiet = in->last_rx_ms + SIM_RTU_SILENCE_MS;

	if (in->len == 0 && !in->discard)
		return INT64_MAX;
	if (now < quiet)
		return quiet;
	rtu_silence(s, in, chan);
	return INT64_MAX;
}

void rtu_read(struct sim *s)
{
	struct sim_rtu *r = &s->rtu;
	size_t room;
	uint8_t *at = rtu_in_room(&r->in, &room);
	ssize_t n = read(r->fd, at, room);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		rtu_lost(r, n < 0 ? strerror(errno) : "end of file");
		return;
	}
	rtu_in_got(s, &r->in, LATE_RTU, (size_t)n);
}

int64_t rtu_timers(struct sim *s, int64_t now)
{
	struct sim_rtu *r = &s->rtu;
	int64_t next = INT64_MAX;

	if (!s->have_rtu)
		return next;
	if (r->fd < 0 && now >= r->reopen_ms) {
		if (rtu_open(r, true) == 0)
			log_info("sim", "rtu %s: open again", r->path);
		else
			r->reopen_ms = now + SIM_RTU_REOPEN_MS;
	}
	if (r->fd < 0)
		return r->reopen_ms;
	return rtu_in_timer(s, &r->in, LATE_RTU, now);
}
