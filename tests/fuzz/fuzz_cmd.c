/*
 * fuzz_cmd: libFuzzer target of the MQTT command parser (daemon/payload.c,
 * payload_parse_cmd), which reads every P/cmd/ack, P/cmd/write and
 * P/cmd/read payload a broker delivers. The input is the payload, passed
 * with its length and not NUL-terminated (a heap block of exactly its
 * size, as MQTT delivers it), parsed as each of the three kinds.
 *
 * Checked, whatever the bytes (besides ASan/UBSan):
 *  - 0 with an empty error, or -1 with an error text; the same answer with
 *    a short error buffer or none;
 *  - the id is read the same whatever the kind; id_null exactly when no id
 *    was read; every string NUL-terminated inside its field;
 *  - accepted: a non-empty id; ack: a non-empty alarm; write and read: point
 *    is DEVICE.POINT of two ids; write: a value, finite, 0/1 when a bool;
 *  - the P/cmd/result built for the parsed id is JSON that echoes the id.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* [a-z0-9][a-z0-9_-]{0,62} */
static bool is_id(const char *s, size_t len)
{
	if (len < 1 || len > YW_ID_MAX - 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool is_fullid(const char *s)
{
	const char *dot = strchr(s, '.');

	return dot && is_id(s, (size_t)(dot - s)) && is_id(dot + 1, strlen(dot + 1));
}

static void check_result(const struct pl_cmd *c, int rc, const char *err)
{
	json_error_t jerr;
	char *res = payload_cmd_result(c->id_null ? NULL : c->id, rc == 0, rc == 0 ? NULL : err,
				       c->value.present ? &c->value : NULL);
	json_t *o, *id;

	if (!res)
		return;   /* out of memory */
	o = json_loads(res, 0, &jerr);
	if (!o || !json_is_object(o))
		abort();
	id = json_object_get(o, "id");
	if (c->id_null ? !json_is_null(id) : !json_is_string(id) ||
	    strcmp(json_string_value(id), c->id) != 0)
		abort();
	json_decref(o);
	free(res);
}

static void check_cmd(enum pl_cmd_kind kind, const char *buf, size_t size, struct pl_cmd *c)
{
	char err[256], small[8];
	struct pl_cmd c2;
	int rc = payload_parse_cmd(kind, buf, size, c, err, sizeof err);

	if (rc != 0 && rc != -1)
		abort();
	if ((rc == 0) != (err[0] == '\0') || !terminated(err, sizeof err))
		abort();
	if (c->kind != kind)
		abort();
	if (!terminated(c->id, sizeof c->id) || !terminated(c->alarm, sizeof c->alarm) ||
	    !terminated(c->by, sizeof c->by) || !terminated(c->point, sizeof c->point))
		abort();
	if (c->id_null != (c->id[0] == '\0'))
		abort();
	if (c->point[0] && !is_fullid(c->point))
		abort();
	if (c->value.present && (!isfinite(c->value.v) ||
				 (c->value.is_bool && c->value.v != 0 && c->value.v != 1)))
		abort();
	if (kind != PL_CMD_WRITE && c->value.present)
		abort();
	if (kind != PL_CMD_ACK && (c->alarm[0] || c->by[0]))
		abort();
	if (kind == PL_CMD_ACK && c->point[0])
		abort();
	if (rc == 0) {
		if (c->id_null)
			abort();
		if (kind == PL_CMD_ACK && c->alarm[0] == '\0')
			abort();
		if (kind != PL_CMD_ACK && c->point[0] == '\0')
			abort();
		if (kind == PL_CMD_WRITE && !c->value.present)
			abort();
	}
	/* the same answer with a short error buffer, and with none */
	if (payload_parse_cmd(kind, buf, size, &c2, small, sizeof small) != rc ||
	    !terminated(small, sizeof small) || strncmp(small, err, sizeof small - 1) != 0)
		abort();
	if (payload_parse_cmd(kind, buf, size, &c2, NULL, 0) != rc || memcmp(&c2, c, sizeof c2) != 0)
		abort();
	check_result(c, rc, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_cmd c[3], bad;
	char err[64];
	char *buf = malloc(size ? size : 1);   /* exactly the payload: no NUL after it */

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (int k = PL_CMD_ACK; k <= PL_CMD_READ; k++)
		check_cmd((enum pl_cmd_kind)k, buf, size, &c[k]);
	for (int k = 1; k < 3; k++)
		if (c[k].id_null != c[0].id_null || strcmp(c[k].id, c[0].id) != 0)
			abort();
	if (payload_parse_cmd((enum pl_cmd_kind)3, buf, size, &bad, err, sizeof err) != -1 ||
	    !bad.id_null || err[0] == '\0')
		abort();
	free(buf);
	return 0;
}
