/*
 * modbus: the bus contract of driver.h: over libmodbus 3.1.x for TCP and
 * RTU, over rtutcp.c (our own socket and RTU framing, drv_int.h) for
 * rtu-tcp. Retries, pacing, recovery and log lines are here for all three.
 *
 * One driver is one libmodbus context (or, rtu-tcp, one socket), used by
 * the bus's worker thread only.
 * The only cross-thread entry is driver_abort(): it sets a flag and, for TCP
 * and rtu-tcp, shutdown()s the socket so that a blocked call returns at once.
 * The socket number it may touch is published under `fd_mu`, and the worker
 * unpublishes it before closing, so abort can never hit a reused descriptor.
 *
 * Requests and answers: libmodbus connects, frames and times out (and adds
 * and checks the RTU CRC), but the requests are built and the answers
 * checked by mbpdu.c, so that nothing is used that does not answer exactly
 * this request: on TCP our own MBAP header with our own transaction id goes
 * out on libmodbus's socket (libmodbus 3.1.6 does not check the unit id of
 * a TCP answer), on RTU modbus_send_raw_request(); the answer comes from
 * modbus_receive_confirmation() and passes mbpdu_check().
 *
 * Classes:
 *   an exception answer, code 10 or 11 (gateway path / target)  DRV_GATEWAY
 *   any other exception code (vendor codes above 11 included)   DRV_EXCEPTION
 *   ETIMEDOUT                                                   DRV_TIMEOUT
 *   EMBBADCRC, EMBBADDATA, EMBBADEXC, EMBBADSLAVE, EMBUNKEXC, an
 *   answer of another unit, transaction or function, a wrong
 *   length, byte count or echo                                  DRV_CRC
 *   anything else (ECONNRESET, EPIPE, EBADF, ECONNREFUSED...)   DRV_LINK
 * DRV_CRC means "bytes arrived but they are not a valid answer to this
 * request": the line is noisy or out of step; the frame boundary can no
 * longer be trusted, so it is handled like a CRC error (flush, or reconnect
 * on TCP) and retried. A request that cannot be built (a count over the
 * Modbus limit) is refused before anything is sent (DRV_LINK, "other").
 * Exceptions (gateway ones included) are answers: not retried.
 *
 * After a timeout or a corrupt frame a late or partial answer may still come.
 * On RTU the input is flushed (modbus_flush) before the next request; on TCP
 * the connection is closed and reopened on the next call, since a late
 * answer on a kept connection would be read as the answer to the next
 * request (it would be refused by transaction id, costing that request
 * too). Socket errors close the connection as well. On rtu-tcp the
 * connection is kept and drained instead (rtutcp.c says why).
 *
 * Timeouts: the bus's timeout_ms is set as the response timeout and as the
 * byte timeout of the context. libmodbus 3.1.6 connects TCP with a
 * non-blocking socket and select()s for at most the response timeout, so a
 * connect is bounded by timeout_ms too (per address for a host name; checked
 * against a listener whose backlog is full: it fails after timeout_ms with
 * errno EINPROGRESS). A request whose connect timed out is reported as
 * DRV_TIMEOUT (a powered-off endpoint is a silent device), a refused or
 * failed connect as DRV_LINK.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <unistd.h>
#include "drv_int.h"
#include "mbpdu.h"
#include "ttylock.h"

struct driver {
	struct drv_settings bus;     /* a copy */
	modbus_t *ctx;               /* rtu, tcp; NULL on rtu-tcp */
	int sock;                    /* rtu-tcp: the connected socket or -1 */
	bool connected;
	bool reconnected;            /* a connect happened since driver_reconnected() */
	bool ever_connected;
	bool down_logged;            /* a connect failure was logged; log the recovery */
	bool quiet_reconnect;        /* we closed after a timeout: reconnect at debug */
	bool rs485_failed;           /* RS-485 mode failure was logged */
	bool connect_timed_out;      /* the last failed connect ran out of time */
	int bad_unit_logged;         /* the last unit id libmodbus refused, logged */
	uint16_t tid;                /* TCP: the last transaction id sent */
	bool have_last;              /* last_end is valid */
	struct timespec last_end;    /* monotonic end of the last transaction */
	char where[320];             /* "bus ID (HOST:PORT)" for log lines */

	pthread_mutex_t fd_mu;       /* guards fd against driver_abort() */
	int fd;                      /* the connected socket (TCP) or -1 */
	atomic_bool aborted;
};

static void driver_set_fd(struct driver *d, int fd)
{
	pthread_mutex_lock(&d->fd_mu);
	d->fd = fd;
	pthread_mutex_unlock(&d->fd_mu);
}

static void driver_close(struct driver *d)
{
	if (!d->connected)
		return;
	driver_set_fd(d, -1);
	if (d->ctx) {
		modbus_close(d->ctx);
	} else {
		close(d->sock);
		d->sock = -1;
	}
	d->connected = false;
}

static int driver_set_timeouts(struct driver *d)
{
	uint32_t sec = (uint32_t)(d->bus.timeout_ms / 1000);
	uint32_t usec = (uint32_t)(d->bus.timeout_ms % 1000) * 1000;

	if (!d->ctx)
		return 0;   /* rtu-tcp: rtutcp.c takes timeout_ms as it is */
	if (sec == 0 && usec == 0)
		usec = 1000;
	if (modbus_set_response_timeout(d->ctx, sec, usec) != 0 ||
	    modbus_set_byte_timeout(d->ctx, sec, usec) != 0) {
		drv_log(0, "%s: cannot set timeout %d ms: %s", d->where,
			  d->bus.timeout_ms, drv_errstr(errno));
		return -1;
	}
	return 0;
}

void driver_set_timeout(struct driver *d, int timeout_ms, int retries)
{
	d->bus.timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	d->bus.retries = retries < 0 ? 0 : retries;
	if (d->ctx)
		(void)driver_set_timeouts(d);
}

static modbus_t *driver_new_ctx(const struct drv_settings *bus)
{
	if (bus->type == DRV_BUS_RTU)
		return modbus_new_rtu(bus->device, bus->baud, bus->parity, bus->data_bits,
				      bus->stop_bits);

	struct in_addr a;
	if (inet_pton(AF_INET, bus->host, &a) == 1)
		return modbus_new_tcp(bus->host, bus->port);
	/* A host name or an IPv6 address: resolved on every connect. */
	char service[16];
	snprintf(service, sizeof service, "%d", bus->port);
	return modbus_new_tcp_pi(bus->host, service);
}

struct driver *driver_new(const struct drv_settings *bus)
{
	struct driver *d = calloc(1, sizeof *d);
	if (!d) {
		drv_log(0, "bus %s: out of memory", bus->id);
		return NULL;
	}
	d->bus = *bus;
	d->fd = -1;
	d->sock = -1;
	d->bad_unit_logged = -1;
	atomic_init(&d->aborted, false);
	if (bus->type == DRV_BUS_RTU)
		snprintf(d->where, sizeof d->where, "bus %.63s (%.200s)", bus->id,
			 bus->device);
	else
		snprintf(d->where, sizeof d->where, "bus %.63s (%.200s:%d)", bus->id, bus->host,
			 bus->port);
	if (pthread_mutex_init(&d->fd_mu, NULL) != 0) {
		drv_log(0, "%s: cannot create mutex", d->where);
		goto out_free;
	}
	if (bus->type == DRV_BUS_RTU_TCP)
		return d;
	d->ctx = driver_new_ctx(bus);
	if (!d->ctx) {
		drv_log(0, "%s: cannot create modbus context: %s", d->where,
			  drv_errstr(errno));
		goto out_mutex;
	}
	if (driver_set_timeouts(d) != 0)
		goto out_ctx;
	return d;

out_ctx:
	modbus_free(d->ctx);
out_mutex:
	pthread_mutex_destroy(&d->fd_mu);
out_free:
	free(d);
	return NULL;
}

void driver_free(struct driver *d)
{
	if (!d)
		return;
	driver_close(d);
	if (d->ctx)
		modbus_free(d->ctx);
	pthread_mutex_destroy(&d->fd_mu);
	free(d);
}

static int driver_rs485(struct driver *d)
{
	if (d->bus.type != DRV_BUS_RTU || !d->bus.rs485)
		return 0;
	if (modbus_rtu_set_serial_mode(d->ctx, MODBUS_RTU_RS485) == 0) {
		d->rs485_failed = false;
		return 0;
	}
	if (!d->rs485_failed)
		drv_log(0, "%s: the port cannot do RS-485 mode (%s); "
			  "set \"rs485\": false for an adapter that switches by itself",
			  d->where, drv_errstr(errno));
	d->rs485_failed = true;
	return -1;
}

/* Open the line: 0, or -1 with errno. */
static int driver_open(struct driver *d)
{
	if (d->ctx)
		return modbus_connect(d->ctx);
	d->sock = rtutcp_connect(d->bus.host, d->bus.port, d->bus.timeout_ms);
	return d->sock < 0 ? -1 : 0;
}

enum drv_status driver_connect(struct driver *d)
{
	if (atomic_load(&d->aborted))
		return DRV_LINK;
	if (d->connected)
		return DRV_OK;
	if (driver_set_timeouts(d) != 0)
		return DRV_LINK;
	if (driver_open(d) != 0) {
		int err = errno;
		/* libmodbus leaves errno at EINPROGRESS when the connect timed out. */
		if (err == EINPROGRESS)
			err = ETIMEDOUT;
		d->connect_timed_out = err == ETIMEDOUT;
		if (!d->down_logged)
			drv_log(1, "%s: cannot connect: %s", d->where, drv_errstr(err));
		else
			drv_log(3, "%s: cannot connect: %s", d->where, drv_errstr(err));
		d->down_logged = true;
		return DRV_LINK;
	}
	d->connected = true;
	d->connect_timed_out = false;
	/* One master on a line: another program on it (a `yardwatch scan` of
	 * the line itself) would garble our frames and we theirs. */
	if (d->bus.type == DRV_BUS_RTU && ttylock_take(modbus_get_socket(d->ctx)) != 0) {
		drv_log(d->down_logged ? 3 : 1, "%s: cannot connect: the line is in use by "
			"another process (pid %ld)", d->where, (long)ttylock_holder(d->bus.device));
		modbus_close(d->ctx);
		d->connected = false;
		d->down_logged = true;
		return DRV_LINK;
	}
	if (driver_rs485(d) != 0) {
		modbus_close(d->ctx);
		d->connected = false;
		d->down_logged = true;
		return DRV_LINK;
	}
	if (d->bus.type == DRV_BUS_TCP)
		driver_set_fd(d, modbus_get_socket(d->ctx));
	else if (d->bus.type == DRV_BUS_RTU_TCP)
		driver_set_fd(d, d->sock);
	if (!d->ever_connected)
		drv_log(2, "%s: connected", d->where);
	else if (d->down_logged || !d->quiet_reconnect)
		drv_log(2, "%s: reconnected", d->where);
	else
		drv_log(3, "%s: reconnected after a timeout", d->where);
	d->reconnected = d->ever_connected;
	d->ever_connected = true;
	d->down_logged = false;
	d->quiet_reconnect = false;
	/* Late aborts: the socket was not published while connecting. */
	if (atomic_load(&d->aborted)) {
		driver_close(d);
		return DRV_LINK;
	}
	return DRV_OK;
}

int driver_reconnected(struct driver *d)
{
	int r = d->reconnected;
	d->reconnected = false;
	return r;
}

void driver_abort(struct driver *d)
{
	atomic_store(&d->aborted, true);
	pthread_mutex_lock(&d->fd_mu);
	if (d->fd >= 0)
		shutdown(d->fd, SHUT_RDWR);
	pthread_mutex_unlock(&d->fd_mu);
}

static void timespec_add_ms(struct timespec *t, int ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Keep inter_frame_delay_ms of silence after the end of the last answer
 * (rtu-tcp: RTUTCP_GAP_MIN_MS at least). */
static void driver_quiet(struct driver *d)
{
	int gap = d->bus.inter_frame_delay_ms;

	if (d->bus.type == DRV_BUS_RTU_TCP && gap < RTUTCP_GAP_MIN_MS)
		gap = RTUTCP_GAP_MIN_MS;
	if (gap <= 0 || !d->have_last)
		return;
	struct timespec until = d->last_end;
	timespec_add_ms(&until, gap);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

static void driver_mark_end(struct driver *d)
{
	clock_gettime(CLOCK_MONOTONIC, &d->last_end);
	d->have_last = true;
}

/* rtu-tcp after a timeout or a bad answer: what is still on its way (the
 * rest of a garbled answer, a late one) is read and dropped until the line
 * is quiet (rtutcp.c); a line that does not go quiet gets a new connection. */
static void driver_drain(struct driver *d)
{
	int t = d->bus.timeout_ms;

	if (!d->connected || rtutcp_drain(d->sock, rtutcp_quiet_ms(t), 4 * t) == 0)
		return;
	if (errno == DRV_ENOQUIET) {
		drv_log(3, "%s: %s; reconnecting", d->where, drv_errstr(errno));
		d->quiet_reconnect = true;
	} else if (!atomic_load(&d->aborted)) {
		drv_log(2, "%s: connection lost: %s", d->where, drv_errstr(errno));
	}
	driver_close(d);
}

/* After a failed transaction: make sure the next one starts clean. */
static void driver_recover(struct driver *d, enum drv_status st, int err)
{
	switch (st) {
	case DRV_OK:
	case DRV_EXCEPTION:
	case DRV_GATEWAY:
		return;
	case DRV_TIMEOUT:
	case DRV_CRC:
		if (d->bus.type == DRV_BUS_TCP) {
			d->quiet_reconnect = true;
			driver_close(d);
		} else if (d->bus.type == DRV_BUS_RTU_TCP) {
			driver_drain(d);
		} else {
			modbus_flush(d->ctx);
		}
		return;
	case DRV_LINK:
		if (err == EMBMDATA || err == EINVAL)
			return;   /* local: nothing was sent */
		if (d->bus.type != DRV_BUS_RTU && d->connected)
			drv_log(2, "%s: connection lost: %s", d->where, drv_errstr(err));
		driver_close(d);
		return;
	}
}

enum drv_op { OP_READ, OP_WRITE };

/* Send one request PDU to UNIT and take the answer's PDU into RSP.
 * Returns its length, or -1 with errno set (a libmodbus or system error, or
 * DRV_EMISMATCH for an answer from another unit or to another transaction).
 * TCP: our own MBAP header with our own transaction id, written to the
 * socket libmodbus connected; libmodbus frames the answer. RTU: libmodbus
 * adds the address and CRC and checks the CRC of the answer. rtu-tcp:
 * rtutcp.c frames, sends and finds the answer. */
static int driver_exchange(struct driver *d, int unit, const uint8_t *pdu, size_t len,
			   uint8_t *rsp)
{
	uint8_t adu[MODBUS_MAX_ADU_LENGTH];
	size_t n;
	int rc;

	if (d->bus.type == DRV_BUS_RTU_TCP)
		return rtutcp_exchange(d->sock, (uint8_t)unit, pdu, len, rsp, d->bus.timeout_ms);

	if (d->bus.type == DRV_BUS_TCP) {
		int fd = modbus_get_socket(d->ctx);
		d->tid++;
		n = mbtcp_wrap(adu, d->tid, (uint8_t)unit, pdu, len);
		for (size_t off = 0; off < n;) {
			ssize_t w = send(fd, adu + off, n - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			off += (size_t)w;
		}
		rc = modbus_receive_confirmation(d->ctx, adu);
		if (rc < 0)
			return -1;
		enum mbpdu_result h = mbtcp_check_header(adu, (size_t)rc, d->tid, (uint8_t)unit);
		if (h != MBPDU_OK) {
			errno = h == MBPDU_MISMATCH ? DRV_EMISMATCH : DRV_EMALFORMED;
			return -1;
		}
		memcpy(rsp, adu + MBTCP_HEADER, (size_t)rc - MBTCP_HEADER);
		return rc - MBTCP_HEADER;
	}
	adu[0] = (uint8_t)unit;
	memcpy(adu + 1, pdu, len);
	if (modbus_send_raw_request(d->ctx, adu, (int)len + 1) < 0)
		return -1;
	rc = modbus_receive_confirmation(d->ctx, adu);
	if (rc < 0)
		return -1;
	/* libmodbus returns 0 for a frame from another address (it skips its
	 * CRC); address + function + CRC at least */
	if (rc == 0 || adu[0] != unit) {
		errno = DRV_EMISMATCH;
		return -1;
	}
	if (rc < 4) {
		errno = DRV_EMALFORMED;
		return -1;
	}
	memcpy(rsp, adu + 1, (size_t)rc - 3);
	return rc - 3;
}

/* One transaction: the request, the answer checked against it. */
static enum drv_status driver_xfer(struct driver *d, int unit, const uint8_t *req, size_t len,
				   uint16_t *out, int *err, int *exc)
{
	uint8_t rsp[MODBUS_MAX_ADU_LENGTH];
	int n = driver_exchange(d, unit, req, len, rsp);

	if (n < 0) {
		*err = errno;
		return drv_classify(*err, exc);
	}
	switch (mbpdu_check(req, len, rsp, (size_t)n, out, exc)) {
	case MBPDU_OK:
		*err = 0;
		return DRV_OK;
	case MBPDU_EXCEPTION:
		*err = MODBUS_ENOBASE + *exc;
		return *exc == 10 || *exc == 11 ? DRV_GATEWAY : DRV_EXCEPTION;
	case MBPDU_MISMATCH:
		*err = DRV_EMISMATCH;
		return DRV_CRC;
	case MBPDU_MALFORMED:
		break;
	}
	*err = DRV_EMALFORMED;
	return DRV_CRC;
}

static enum drv_status driver_do(struct driver *d, enum drv_op op, int unit, enum yw_table t,
				 uint16_t start, uint16_t count, uint16_t *regs,
				 const uint16_t *wregs, int *exc)
{
	enum drv_status st = DRV_LINK;
	uint8_t pdu[MBPDU_MAX];
	bool single = op == OP_WRITE && count == 1;
	int len, err = 0, dummy;

	if (!exc)
		exc = &dummy;
	*exc = 0;
	len = op == OP_READ ? mbpdu_read(pdu, t, start, count) :
			      mbpdu_write(pdu, t, start, count, wregs, single);
	if (len < 0) {
		/* refused before anything is sent: a read-only table is what a
		 * device would answer (illegal function), a bad count is ours */
		if (op == OP_WRITE && (t == TABLE_DISCRETE || t == TABLE_INPUT)) {
			*exc = 1;
			return DRV_EXCEPTION;
		}
		return DRV_LINK;
	}
	for (int attempt = 0; attempt <= d->bus.retries; attempt++) {
		if (atomic_load(&d->aborted))
			return DRV_LINK;
		if (driver_connect(d) != DRV_OK) {
			/* an endpoint that does not even accept counts as silent */
			st = d->connect_timed_out ? DRV_TIMEOUT : DRV_LINK;
			continue;
		}
		/* libmodbus 3.1.6 takes 0..247 (and 255 on TCP); rtu-tcp as RTU */
		if (d->ctx ? modbus_set_slave(d->ctx, unit) != 0 : unit < 0 || unit > 247) {
			if (d->bad_unit_logged != unit)
				drv_log(0, "%s: unit id %d is not accepted%s", d->where, unit,
					d->ctx ? " by libmodbus" : " (0..247)");
			d->bad_unit_logged = unit;
			return DRV_LINK;
		}
		driver_quiet(d);
		st = driver_xfer(d, unit, pdu, (size_t)len, op == OP_READ ? regs : NULL, &err, exc);
		driver_mark_end(d);
		/* Some devices only know "write multiple registers". */
		if (st == DRV_EXCEPTION && *exc == 1 && single && t == TABLE_HOLDING) {
			single = false;
			len = mbpdu_write(pdu, t, start, count, wregs, false);
			attempt--;
			continue;
		}
		if (st == DRV_OK)
			return DRV_OK;
		driver_recover(d, st, err);
		drv_log(3, "%s: unit %d %s %s %u+%u: %s (attempt %d)", d->where, unit,
			op == OP_READ ? "read" : "write", point_table_name(t),
			(unsigned)start, (unsigned)count, drv_errstr(err), attempt + 1);
		if (st == DRV_EXCEPTION || st == DRV_GATEWAY)
			return st;
	}
	return st;
}

enum drv_status driver_read(struct driver *d, int unit, enum yw_table t, uint16_t start,
			    uint16_t count, uint16_t *regs, int *exc)
{
	return driver_do(d, OP_READ, unit, t, start, count, regs, NULL, exc);
}

enum drv_status driver_write(struct driver *d, int unit, enum yw_table t, uint16_t start,
			     uint16_t count, const uint16_t *regs, int *exc)
{
	return driver_do(d, OP_WRITE, unit, t, start, count, NULL, regs, exc);
}
