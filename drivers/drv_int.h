/*
 * drv_int: what the files of the driver share (private to drivers/):
 *   modbus.c   the contract of driver.h: connection state, retries, pacing,
 *              recovery after a failed request, log lines; rtu and tcp
 *              through libmodbus
 *   drverr.c   log lines, the names and classes of errors
 *   rtutcp.c   rtu-tcp: the socket's I/O (connect, one request and its
 *              answer, the drain), functions of one socket
 * rtutcp.c reports errors as errno values (the system's, and the pseudo
 * values below); modbus.c classifies them and logs.
 */
#ifndef YW_DRV_INT_H
#define YW_DRV_INT_H

#include <modbus.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"

/* Pseudo errno values of our own checks, for log lines and the class. */
#define DRV_EMISMATCH (MODBUS_ENOBASE + 200)   /* answer to another request */
#define DRV_EMALFORMED (MODBUS_ENOBASE + 201)  /* wrong length / byte count / echo */
#define DRV_EGARBLED (MODBUS_ENOBASE + 202)    /* rtu-tcp: bytes came, no answer in them */
#define DRV_ERESOLVE (MODBUS_ENOBASE + 203)    /* the host name did not resolve */
#define DRV_ENOQUIET (MODBUS_ENOBASE + 204)    /* rtu-tcp: bytes kept coming while draining */

/* A log line at LEVEL (0 error .. 3 debug), component "modbus", through the
 * callback of driver_set_log() (stderr without one). */
__attribute__((format(printf, 2, 3)))
void drv_log(int level, const char *fmt, ...);
/* Text for an errno value set by libmodbus, the system or ourselves;
 * thread-safe. */
const char *drv_errstr(int err);
/* The status an errno value stands for; *EXC gets an exception's code. */
enum drv_status drv_classify(int err, int *exc);

/* rtu-tcp: the least silence kept between the end of an answer and the next
 * request (the line's speed is unknown: 3.5 characters at 9600 baud are
 * 4 ms); inter_frame_delay_ms raises it. */
#define RTUTCP_GAP_MIN_MS 5

/* rtu-tcp: connect to HOST:PORT (a name is resolved on every call; each of
 * its addresses is tried in turn, each for at most TIMEOUT_MS). Returns the
 * connected non-blocking socket, or -1 with errno (ETIMEDOUT when no address
 * answered in time, DRV_ERESOLVE). */
int rtutcp_connect(const char *host, int port, int timeout_ms);

/* rtu-tcp: drop what is pending on FD, send PDU (LEN bytes) to UNIT as an
 * RTU frame and wait at most TIMEOUT_MS for the answer: its PDU into RSP
 * (RTU_ADU_MAX bytes), its length returned. -1 with errno: ETIMEDOUT
 * (nothing came), DRV_EGARBLED (bytes came, but not the answer: garbage, a
 * bad CRC, a short frame, another unit's frame), ECONNRESET (the peer
 * closed), or the socket's error. */
int rtutcp_exchange(int fd, uint8_t unit, const uint8_t *pdu, size_t len, uint8_t *rsp,
		    int timeout_ms);

/* rtu-tcp: read and drop until FD has been silent for QUIET_MS. 0; -1 with
 * errno DRV_ENOQUIET when bytes still came after MAX_MS, ECONNRESET when the
 * peer closed, or the socket's error. */
int rtutcp_drain(int fd, int quiet_ms, int max_ms);

/* rtu-tcp: the drain's quiet time after a failed request of a bus with
 * TIMEOUT_MS (see rtutcp.c). */
int rtutcp_quiet_ms(int timeout_ms);

#endif
