/*
 * fuzz_ctlreq: libFuzzer target of the control socket's request parser
 * (daemon/ctlreq.c, ctlreq_parse), which reads every line a local client
 * sends to the daemon. The input is the line, passed with its length and
 * not NUL-terminated.
 *
 * Checked, whatever the bytes (besides ASan/UBSan):
 *  - 0 with an empty error, or -1 with a non-empty error text; the same
 *    answer with a one-byte error buffer;
 *  - the id is NUL-terminated inside its field, and "" when id_null;
 *  - accepted: a known verb; modbus_read: a bus id, a table, unit 0..255,
 *    address 0..65535, count within the Modbus limit of its table and
 *    address + count <= 65536, timeout 0..60000; ack: an alarm; write and
 *    read: a point of two ids.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/ctlreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1);
	struct ctlreq *r = malloc(sizeof *r), *r2 = malloc(sizeof *r2);
	char err[256], small[1];

	if (!line || !r || !r2)
		abort();
	memcpy(line, data, size);
	int rc = ctlreq_parse(line, size, r, err, sizeof err);
	int rc2 = ctlreq_parse(line, size, r2, small, sizeof small);
	if (rc != rc2 || (rc == 0) != (err[0] == '\0') || small[0] != '\0')
		abort();
	if (!memchr(r->id, '\0', sizeof r->id) || (r->id_null && r->id[0]))
		abort();
	if (rc == 0) {
		bool bits = r->table == TABLE_COIL || r->table == TABLE_DISCRETE;
		switch (r->verb) {
		case CTLREQ_STATUS:
			break;
		case CTLREQ_MODBUS_READ:
			if (!r->bus[0] || !memchr(r->bus, '\0', sizeof r->bus) || (int)r->table < 0 ||
			    r->table >= POINT_NTABLES || r->unit < 0 || r->unit > 255 ||
			    r->address < 0 || r->address > 65535 || r->count < 1 ||
			    r->count > (bits ? 2000 : 125) || r->address + r->count > 65536 ||
			    r->timeout_ms < 0 || r->timeout_ms > 60000)
				abort();
			break;
		case CTLREQ_ACK:
			if (!r->cmd.alarm[0])
				abort();
			break;
		case CTLREQ_WRITE:
		case CTLREQ_READ:
			if (!strchr(r->cmd.point, '.'))
				abort();
			break;
		default:
			abort();
		}
	}
	free(line);
	free(r);
	free(r2);
	return 0;
}
