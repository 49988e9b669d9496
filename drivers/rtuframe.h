/*
 * rtuframe: Modbus RTU framing as functions of bytes (no I/O, no state),
 * for RTU frames that arrive as a byte stream (rtu-tcp: a serial device
 * server in transparent mode passes the line's bytes on a TCP connection,
 * cut wherever its own timers cut them).
 *
 * The rules:
 *  - ADU = unit (1 byte) + PDU + CRC-16/Modbus of unit and PDU (reflected
 *    polynomial 0xA001, initial value 0xFFFF), low byte first. The PDU is
 *    what mbpdu.c builds.
 *  - The length of the answer follows from the request (the driver sends
 *    only these functions): FC 1/2 (bits) 3 + ceil(quantity / 8) + 2,
 *    FC 3/4 (registers) 3 + 2 * quantity + 2, FC 5/6/15/16 (writes) 8; an
 *    exception answer (function | 0x80, one code byte) 5.
 *  - A frame of the answer can start at a position P of the bytes received
 *    when the bytes from P agree, as far as they go, with the beginning of
 *    an answer to this request: the unit, then the function or the
 *    function | 0x80, then for a normal answer to a read the byte count
 *    (quantity's bytes). Once the bytes from P reach the frame's length
 *    (5 for an exception, else the expected length), its CRC decides: good,
 *    it is the frame; bad, P cannot start one.
 *  - rtu_scan() looks at the positions from the first on and answers for
 *    the first one that can start a frame:
 *      RTU_FRAME  a complete frame with a good CRC at OFF, N bytes long (the
 *                 OFF bytes before it are garbage);
 *      RTU_NEED   it is the first byte and the frame is not complete: at
 *                 least N more bytes are needed;
 *      RTU_SKIP   it is a later position (or there is none: the end): the N
 *                 bytes before it are garbage, to drop before scanning on.
 *    An earlier position that may still become a frame is always waited
 *    for, even when a complete frame follows later: the bytes of a normal
 *    answer's data are never taken for a short exception frame inside it.
 *  - A frame found still goes through mbpdu_check() (byte count, echo,
 *    exception code) like the answers on the other bus types.
 */
#ifndef YW_RTUFRAME_H
#define YW_RTUFRAME_H

#include <stddef.h>
#include <stdint.h>

#define RTU_ADU_MAX 256          /* unit + PDU (253) + CRC */
#define RTU_EXC_LEN 5            /* unit, function | 0x80, code, CRC */

/* CRC-16/Modbus of B[0..N). */
uint16_t rtu_crc16(const uint8_t *b, size_t n);

/* UNIT + PDU (LEN bytes, at most 253) + CRC into ADU (RTU_ADU_MAX bytes).
 * Returns the ADU's length, or 0 when LEN is 0 or over 253. */
size_t rtu_wrap(uint8_t *adu, uint8_t unit, const uint8_t *pdu, size_t len);

/* The length of the normal answer ADU to request PDU REQ (LEN bytes), or 0
 * when its function is none of 1, 2, 3, 4, 5, 6, 15, 16 or it is too short. */
size_t rtu_answer_len(const uint8_t *req, size_t len);

enum rtu_scan_kind { RTU_NEED, RTU_FRAME, RTU_SKIP };

struct rtu_scan {
	enum rtu_scan_kind kind;
	size_t off;                  /* RTU_FRAME: where the frame starts */
	size_t n;                    /* FRAME: its length; NEED: bytes missing at
	                                least; SKIP: bytes to drop */
};

/* Scan B[0..LEN), the bytes received so far, for the answer from UNIT to
 * request PDU REQ (REQ_LEN bytes; rtu_answer_len() must know it). See the
 * rules above. With LEN 0: RTU_NEED. */
struct rtu_scan rtu_scan(const uint8_t *b, size_t len, uint8_t unit, const uint8_t *req,
			 size_t req_len);

#endif
