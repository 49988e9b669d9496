/*
 * driver: the bus contract. One `struct driver` is one physical bus (an
 * RS-485 line or a Modbus TCP endpoint behind libmodbus, or an RS-485 line
 * behind a serial device server: rtu-tcp, our own backend); it is owned by
 * that bus's worker thread and used by it alone (driver_abort() excepted).
 *
 * It tells "the device answered with an exception" (DRV_EXCEPTION: the link
 * is fine, the point is bad) from "the link failed" (timeout, CRC, socket:
 * back off, reconnect). TCP and rtu-tcp reconnect by themselves on the next
 * call after the peer dropped. The bus's timeout is set as both response and
 * byte timeout on every libmodbus context; on rtu-tcp the whole answer must
 * come within it. inter_frame_delay_ms of silence is kept between requests
 * (on rtu-tcp at least 5 ms, for the line's 3.5-character gap).
 */
#ifndef YW_DRIVER_H
#define YW_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include "point.h"

/* What the driver needs to know of its bus; the daemon fills it from its
 * config. */
/* DRV_BUS_RTU_TCP: Modbus RTU frames (with CRC) over a TCP connection, as a
 * serial device server in transparent mode carries them. */
enum drv_bus_type { DRV_BUS_RTU, DRV_BUS_TCP, DRV_BUS_RTU_TCP };

struct drv_settings {
	char id[YW_ID_MAX];          /* the bus id, for log lines */
	enum drv_bus_type type;
	/* rtu */
	char device[1024];
	int baud;
	char parity;                 /* 'N' | 'E' | 'O' */
	int data_bits, stop_bits;
	bool rs485;                  /* ask for the kernel's RS-485 mode */
	int inter_frame_delay_ms;    /* silence kept between requests (rtu, rtu-tcp) */
	/* tcp, rtu-tcp */
	char host[256];
	int port;
	/* all */
	int timeout_ms;              /* response and byte timeout (rtu-tcp: the
	                                whole answer) */
	int retries;                 /* a failed request is tried again this often */
};

/* The driver reports what it sees (connects, losses, refusals) through one
 * process-wide callback; without one, lines go to stderr. LEVEL is 0 error,
 * 1 warn, 2 info, 3 debug (the order of the daemon's log levels). */
typedef void (*drv_log_fn)(int level, const char *component, const char *msg);
void driver_set_log(drv_log_fn fn, int max_level);

enum drv_status {
	DRV_OK = 0,
	DRV_EXCEPTION,   /* device answered with exception code *exc */
	DRV_TIMEOUT,     /* no (complete) answer within timeout_ms, after retries
	                    (also: a TCP connect that got no answer in time) */
	DRV_CRC,         /* corrupt frame (bad CRC / bad header / wrong length) */
	DRV_LINK,        /* socket/tty error, connection refused or dropped */
	DRV_GATEWAY,     /* a gateway answered exception 10 or 11: the device
	                    behind it cannot be reached (*exc holds the code) */
};

struct driver;

/* Create the driver for BUS (copied; does not connect yet). NULL on error
 * (logged). */
struct driver *driver_new(const struct drv_settings *bus);
void driver_free(struct driver *d);

/* Connect if not connected. DRV_OK or DRV_LINK. */
enum drv_status driver_connect(struct driver *d);
/* True when a connect has happened since the last call (the caller re-reads
 * what it must read after a reconnect). */
int driver_reconnected(struct driver *d);

/* Read COUNT registers (input/holding) into REGS, or COUNT bits
 * (coil/discrete) into REGS as 0/1, from UNIT. On DRV_EXCEPTION *EXC holds
 * the Modbus exception code. Retries link failures (timeout, CRC, link)
 * bus->retries times; exceptions are not retried. */
enum drv_status driver_read(struct driver *d, int unit, enum yw_table t,
			    uint16_t start, uint16_t count, uint16_t *regs, int *exc);

/* Write COUNT registers (holding) or bits (coil) from REGS (bits as 0/1).
 * One register / coil goes as function 6 / 5 (a device that refuses 6 with
 * "illegal function" gets 16), more as 16 / 15. */
enum drv_status driver_write(struct driver *d, int unit, enum yw_table t,
			     uint16_t start, uint16_t count, const uint16_t *regs, int *exc);

/* Change the timeout (response and byte) and the retries of the calls that
 * follow (a scan probes with a short timeout and no retry, then the bus's
 * settings are put back). */
void driver_set_timeout(struct driver *d, int timeout_ms, int retries);

/* From another thread: make a blocked call return soon (TCP, rtu-tcp:
 * shutdown() of the socket; RTU: at most one timeout). The driver stays aborted: every
 * later call returns DRV_LINK at once. Only for stopping. */
void driver_abort(struct driver *d);

/* "ok" | "exception" | "timeout" | "crc" | "gateway" | "link". */
const char *driver_status_name(enum drv_status s);
/* The standard name of a Modbus exception code ("illegal data address"). */
const char *driver_exception_name(int code);

#endif
