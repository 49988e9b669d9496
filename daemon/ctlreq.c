/*
 * ctlreq: see ctlreq.h.
 */
#include "ctlreq.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

__attribute__((format(printf, 3, 4)))
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A key of O outside KEYS (NULL-terminated), or NULL. */
static const char *unknown_key(json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *p = keys;
		while (*p && strcmp(*p, k) != 0)
			p++;
		if (!*p)
			return k;
	}
	return NULL;
}

/* An integer member KEY of O in LO..HI: 1 read, 0 absent, -1 refused. */
static int get_int(json_t *o, const char *key, long lo, long hi, int *out, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return refuse(err, errlen, "\"%s\" must be an integer in %ld..%ld", key, lo, hi);
	*out = (int)json_integer_value(v);
	return 1;
}

static int parse_modbus_read(json_t *args, struct ctlreq *r, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", "bus", "unit", "table", "address", "count",
					    "timeout_ms", NULL };
	json_t *v;
	const char *k = unknown_key(args, keys);

	if (k)
		return refuse(err, errlen, "unknown key \"%.64s\"", k);
	v = json_object_get(args, "bus");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= sizeof r->bus || strlen(json_string_value(v)) !=
	    json_string_length(v))
		return refuse(err, errlen, "\"bus\" must be a bus id");
	util_strlcpy(r->bus, json_string_value(v), sizeof r->bus);
	v = json_object_get(args, "table");
	r->table = (enum yw_table)-1;
	for (int t = 0; json_is_string(v) && t < POINT_NTABLES; t++)
		if (strcmp(point_table_names[t], json_string_value(v)) == 0)
			r->table = (enum yw_table)t;
	if ((int)r->table < 0)
		return refuse(err, errlen, "\"table\" must be coil, discrete, input or holding");
	if (!json_object_get(args, "unit") || !json_object_get(args, "address"))
		return refuse(err, errlen, "\"unit\" and \"address\" are required");
	bool bits = r->table == TABLE_COIL || r->table == TABLE_DISCRETE;
	r->count = 1;
	if (get_int(args, "unit", 0, 255, &r->unit, err, errlen) < 0 ||
	    get_int(args, "address", 0, 65535, &r->address, err, errlen) < 0 ||
	    get_int(args, "count", 1, bits ? 2000 : 125, &r->count, err, errlen) < 0 ||
	    get_int(args, "timeout_ms", 1, 60000, &r->timeout_ms, err, errlen) < 0)
		return -1;
	if (r->address + r->count > 65536)
		return refuse(err, errlen, "address + count passes 65535");
	return 0;
}

static const struct {
	const char *name;
	enum ctlreq_verb verb;
} verbs[] = {
	{ "status", CTLREQ_STATUS }, { "ack", CTLREQ_ACK }, { "write", CTLREQ_WRITE },
	{ "read", CTLREQ_READ }, { "modbus_read", CTLREQ_MODBUS_READ },
};

int ctlreq_parse(const char *line, size_t len, struct ctlreq *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "cmd", "args", NULL };
	json_error_t jerr;
	json_t *req, *args, *id;
	const char *verb, *k;
	int rc = -1;

	memset(out, 0, sizeof *out);
	out->id_null = true;
	err[0] = '\0';
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return refuse(err, errlen, "malformed JSON: %s", jerr.text);
	if (!json_is_object(req)) {
		refuse(err, errlen, "malformed request: not a JSON object");
		goto out;
	}
	args = json_object_get(req, "args");
	id = json_is_object(args) ? json_object_get(args, "id") : NULL;
	if (json_is_string(id) && json_string_length(id) < sizeof out->id &&
	    strlen(json_string_value(id)) == json_string_length(id)) {
		util_strlcpy(out->id, json_string_value(id), sizeof out->id);
		out->id_null = false;
	}
	verb = json_string_value(json_object_get(req, "cmd"));
	for (size_t i = 0; verb && i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(verbs[i].name, verb) == 0)
			out->verb = verbs[i].verb;
	if ((k = unknown_key(req, keys)) != NULL) {
		refuse(err, errlen, "unknown key \"%.64s\"", k);
	} else if (!verb) {
		refuse(err, errlen, "\"cmd\" must be a string");
	} else if (out->verb == CTLREQ_NONE) {
		refuse(err, errlen, "unknown cmd \"%.64s\" (status, ack, write, read, modbus_read)",
		       verb);
	} else if (args && !json_is_object(args)) {
		refuse(err, errlen, "\"args\" must be an object");
	} else if (out->verb == CTLREQ_STATUS) {
		rc = args && json_object_size(args) > 0 ?
			refuse(err, errlen, "status takes no arguments") : 0;
	} else if (out->verb == CTLREQ_MODBUS_READ) {
		if (id && out->id_null)
			refuse(err, errlen, "\"id\" must be a string of at most %d bytes",
			       YW_TEXT_MAX - 1);
		else if (!args)
			refuse(err, errlen, "\"args\" is required");
		else
			rc = parse_modbus_read(args, out, err, errlen);
	} else {
		enum pl_cmd_kind kind = out->verb == CTLREQ_ACK ? PL_CMD_ACK :
			out->verb == CTLREQ_WRITE ? PL_CMD_WRITE : PL_CMD_READ;
		char *text = args ? json_dumps(args, JSON_COMPACT) : NULL;
		if (!text) {
			refuse(err, errlen, args ? "out of memory" : "\"args\" is required");
		} else {
			rc = payload_parse_cmd(kind, text, strlen(text), &out->cmd, err, errlen);
			out->id_null = out->cmd.id_null;
			util_strlcpy(out->id, out->cmd.id, sizeof out->id);
		}
		free(text);
	}
out:
	json_decref(req);
	return rc;
}
