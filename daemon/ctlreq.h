/*
 * ctlreq: one request line of the control socket parsed and checked, as a
 * function of its bytes (no I/O, no gateway state): the envelope
 * {"cmd": VERB, "args": {...}}, and for each verb its arguments. ack,
 * write and read take exactly the payload of P/cmd/ack, write, read
 * (payload_parse_cmd: the same parser, the same checks as on MQTT).
 * Fuzzed by tests/fuzz/fuzz_ctlreq.c.
 */
#ifndef YW_CTLREQ_H
#define YW_CTLREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "payload.h"

enum ctlreq_verb {
	CTLREQ_NONE = 0,       /* the envelope could not be read */
	CTLREQ_STATUS,
	CTLREQ_ACK,
	CTLREQ_WRITE,
	CTLREQ_READ,
	CTLREQ_MODBUS_READ,
};

struct ctlreq {
	enum ctlreq_verb verb;
	/* the request's id ("id" of ARGS), for the reply; id_null when none
	 * could be read */
	char id[YW_TEXT_MAX];
	bool id_null;
	struct pl_cmd cmd;       /* ack, write, read */
	/* modbus_read */
	char bus[YW_ID_MAX];
	int unit;                /* 0..255 */
	enum yw_table table;
	int address;             /* 0..65535 */
	int count;               /* 1..125 registers, 1..2000 bits; address + count <= 65536 */
	int timeout_ms;          /* 0: the bus's own; else 1..60000 */
};

/* Parse LINE (LEN bytes, need not be NUL-terminated). 0, or -1 with a
 * clear message in ERR (at least 1 byte) and as much of OUT as could be
 * read (verb and id when they could). */
int ctlreq_parse(const char *line, size_t len, struct ctlreq *out, char *err, size_t errlen);

#endif
