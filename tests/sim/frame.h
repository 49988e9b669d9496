/*
 * frame: answers as they go on the wire. Builds the ADU around a response
 * PDU (Modbus TCP: the MBAP header; RTU: the unit address and the CRC) and
 * then does to it what the device's fault says (garbage, truncate, bad_crc,
 * wrong_unit, wrong_tid, late, silent; docs/simulator.md has the exact
 * bytes). Pure: no I/O, no clock; the random bytes come from a state the
 * caller owns.
 */
#ifndef YW_SIM_FRAME_H
#define YW_SIM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define FRAME_MAX 260            /* largest ADU: Modbus TCP, MBAP 7 + PDU 253 */

/* MBAP header (TID, protocol 0, length, UNIT) + PDU into ADU; its length. */
size_t frame_tcp(uint8_t *adu, unsigned tid, unsigned unit, const uint8_t *pdu, size_t n);
/* UNIT + PDU + CRC into ADU; its length. */
size_t frame_rtu(uint8_t *adu, unsigned unit, const uint8_t *pdu, size_t n);
/* The Modbus RTU CRC of B[0..N). */
uint16_t frame_crc16(const uint8_t *b, size_t n);
/* True when the last two bytes of B[0..N) are the CRC of the others (N >= 4). */
bool frame_crc_ok(const uint8_t *b, size_t n);
/* The name of fault kind K as a step writes it ("garbage", ...; "none"). */
const char *frame_fault_name(enum fault_kind k);
/* The unit id a wrong_unit answer carries instead of UNIT. */
unsigned frame_other_unit(unsigned unit);
/*
 * Applies fault F to the framed answer ADU (N bytes, room for FRAME_MAX) on
 * LINK (LINK_RTU_TCP as LINK_RTU: the same frames). Returns the length to
 * send (0: nothing); *DELAY_MS gets how long to hold it back (0: send now).
 * RNG feeds the garbage bytes.
 */
size_t frame_fault(const struct sim_fault *f, enum sim_link link, uint8_t *adu, size_t n,
		   uint64_t *rng, int *delay_ms);

#endif
