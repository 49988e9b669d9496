/*
 * pdu: the Modbus PDU handler of the simulated devices. A function of the
 * model, the link, the unit id and the request PDU to the response PDU (or
 * no answer): function codes 1-6, 15 and 16 with Modbus exception semantics,
 * the device's offline state and forced exception, its request counters.
 * No I/O, no clock: what happens to the answer on the wire (framing, faults)
 * is the transports' business (frame.h).
 */
#ifndef YW_SIM_PDU_H
#define YW_SIM_PDU_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define PDU_MAX 253              /* largest Modbus PDU */

/* Modbus exception codes. */
#define MB_EX_FUNCTION 1
#define MB_EX_ADDRESS 2
#define MB_EX_VALUE 3

/* What became of one request. */
struct pdu_result {
	int dev;                 /* device index that plays the unit; -1: nobody */
	size_t len;              /* response PDU length; 0: no answer */
};

/*
 * Handles request REQ (LEN >= 1 bytes, function code first) addressed to
 * UNIT over LINK. The response PDU goes to RSP (room for PDU_MAX bytes).
 * Counts the request in the model. No answer when nobody plays UNIT or the
 * device is offline.
 */
struct pdu_result pdu_handle(struct sim_model *m, enum sim_link link, unsigned unit,
			     const uint8_t *req, size_t len, uint8_t *rsp);

static inline uint16_t pdu_get16(const uint8_t *b)
{
	return (uint16_t)((unsigned)b[0] << 8 | b[1]);
}

static inline void pdu_put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

#endif
