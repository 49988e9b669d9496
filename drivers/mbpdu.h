/*
 * mbpdu: Modbus requests built and answers checked as functions of bytes.
 * Pure: no I/O, no state. The driver sends what these build and hands what
 * came back to mbpdu_check(); nothing from a device is used before it passed.
 *
 * Why not libmodbus's own checks: libmodbus 3.1.6 accepts a Modbus TCP
 * answer that carries another unit id (data of another device taken as
 * good), and reports a vendor exception code above 11 as a malformed frame.
 * Here an answer is good only when everything matches the request:
 *  - TCP (MBAP): transaction id, protocol id 0, the length field, unit id;
 *  - RTU: the address byte (the CRC is libmodbus's);
 *  - the PDU: function code (or function | 0x80 with one exception byte),
 *    for reads the byte count of exactly the quantity asked, for writes the
 *    echo of address and quantity (or value).
 * An exception answer is an answer whatever its code (1..255); codes 10 and
 * 11 say a gateway could not reach the device behind it.
 *
 * PDU = function code + data (at most 253 bytes).
 */
#ifndef YW_MBPDU_H
#define YW_MBPDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "point.h"

#define MBPDU_MAX 253
#define MBTCP_HEADER 7            /* MBAP: tid(2) protocol(2) length(2) unit(1) */
#define MBTCP_ADU_MAX (MBTCP_HEADER + MBPDU_MAX)

enum mbpdu_result {
	MBPDU_OK = 0,
	MBPDU_EXCEPTION,   /* a well-formed exception answer; *exc holds its code */
	MBPDU_MISMATCH,    /* an answer, but not to this request (unit, tid, function) */
	MBPDU_MALFORMED,   /* wrong length, byte count or echo */
};

/* Request PDU reading COUNT registers (input/holding: FC 4/3) or bits
 * (coil/discrete: FC 1/2) from START. Returns its length, or -1 when COUNT
 * is 0 or over the Modbus limit (125 registers, 2000 bits). */
int mbpdu_read(uint8_t *pdu, enum yw_table t, uint16_t start, uint16_t count);

/* Request PDU writing COUNT registers (holding) or bits (coil, VALS as 0/1)
 * from VALS at START: FC 6 / 5 when SINGLE (COUNT must be 1), else FC 16 /
 * 15. Returns its length, or -1 (a read-only table, a bad COUNT). */
int mbpdu_write(uint8_t *pdu, enum yw_table t, uint16_t start, uint16_t count,
		const uint16_t *vals, bool single);

/* Check answer RSP (RSP_LEN bytes, a PDU) against request REQ (REQ_LEN).
 * For a read, OUT receives the registers or the bits (0/1), as many as the
 * request asked for; OUT may be NULL for writes. */
enum mbpdu_result mbpdu_check(const uint8_t *req, size_t req_len, const uint8_t *rsp,
			      size_t rsp_len, uint16_t *out, int *exc);

/* Modbus TCP: the ADU of PDU for UNIT with transaction id TID into ADU
 * (MBTCP_ADU_MAX bytes). Returns its length. */
size_t mbtcp_wrap(uint8_t *adu, uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t len);

/* Modbus TCP: check the MBAP header of answer RSP (LEN bytes) against TID
 * and UNIT; MBPDU_OK when the PDU at RSP + MBTCP_HEADER may be checked. */
enum mbpdu_result mbtcp_check_header(const uint8_t *rsp, size_t len, uint16_t tid, uint8_t unit);

/* The name of a check result, for log lines ("another unit's answer"...). */
const char *mbpdu_result_name(enum mbpdu_result r);

#endif
