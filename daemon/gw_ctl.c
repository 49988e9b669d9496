/*
 * gw_ctl: the requests of the control socket (ctl.c carries the lines;
 * docs/control.md is the protocol). A request is one JSON object
 * {"cmd": VERB, "args": {...}}:
 *   status       the daemon's pid, version, start, its MQTT links and the
 *                buses it polls (answered at once)
 *   ack, write,  ARGS is exactly the payload of P/cmd/ack, write, read:
 *   read         the same parser and the same checks (gw_cmd.c); the reply
 *                is what P/cmd/result would carry
 *   modbus_read  one raw read on a bus the daemon polls (`yardwatch read`
 *                and each probe of `scan`): run by the bus worker between
 *                two polls; the reply has the registers, or the failure's
 *                status and exception code
 * Everything refused gets {"ok": false, "error": TEXT}.
 */
#include "gw_int.h"

#include <jansson.h>
#include <unistd.h>

#include "ctl.h"

static void ctl_send(struct gateway *gw, uint32_t token, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s)
		(void)ctl_reply(gw->ctl, token, s);
	else
		log_error("ctl", "out of memory");
	free(s);
	json_decref(o);
}

static json_t *id_json(const char *id, bool id_null)
{
	return id_null || !id ? json_null() : json_string(id);
}

static void ctl_refuse(struct gateway *gw, uint32_t token, const char *id, const char *status,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void ctl_refuse(struct gateway *gw, uint32_t token, const char *id, const char *status,
		       const char *fmt, ...)
{
	char err[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, sizeof err, fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:o, s:b, s:s}", "id", id_json(id, id == NULL), "ok", 0,
			      "error", err);
	if (o && status)
		json_object_set_new(o, "status", json_string(status));
	ctl_send(gw, token, o);
}

static void ctl_status(struct gateway *gw, uint32_t token)
{
	char started[40];
	json_t *ups = json_array(), *buses = json_array();

	if (gw->link)
		json_array_append_new(ups, json_pack("{s:s, s:b, s:I}", "id", "mqtt", "connected",
						     mqtt_connected(gw->link), "outbox_depth",
						     (json_int_t)(store_outbox_depth(gw->st) +
								  (int64_t)gw->nheld)));
	for (size_t b = 0; b < gw->cfg->nbuses; b++)
		json_array_append_new(buses, json_pack("{s:s, s:b}", "id", gw->cfg->buses[b].id,
						       "polled",
						       gw->workers && gw->workers[b] != NULL));
	util_fmt_time(gw->started_ms, started, sizeof started);
	ctl_send(gw, token, json_pack("{s:b, s:i, s:s, s:s, s:o, s:o}", "ok", 1, "pid",
				      (int)getpid(), "version", YW_VERSION, "started", started,
				      "uplinks", ups, "buses", buses));
}

/* A key of ARGS outside KEYS (NULL-terminated), or NULL. */
static const char *unknown_key(json_t *args, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach(args, k, v) {
		const char *const *p = keys;
		while (*p && strcmp(*p, k) != 0)
			p++;
		if (!*p)
			return k;
	}
	return NULL;
}

/* An integer of ARGS in LO..HI into *OUT: 1; 0 when absent (*OUT kept);
 * -1 when not such an integer (refused with a message). */
static int get_int(struct gateway *gw, uint32_t token, const char *id, json_t *args,
		   const char *key, long lo, long hi, long *out)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		ctl_refuse(gw, token, id, NULL, "\"%s\" must be an integer in %ld..%ld", key, lo, hi);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 1;
}

static void ctl_modbus_read(struct gateway *gw, uint32_t token, json_t *args)
{
	static const char *const keys[] = { "id", "bus", "unit", "table", "address", "count",
					    "timeout_ms", NULL };
	json_t *jid = json_object_get(args, "id");
	const char *id = json_is_string(jid) ? json_string_value(jid) : NULL;
	const char *k = unknown_key(args, keys), *bus, *tname;
	long unit = -1, addr = -1, count = 1, tmo = 0;
	int table = -1, b;

	if (jid && !json_is_string(jid)) {
		ctl_refuse(gw, token, NULL, NULL, "\"id\" must be a string");
		return;
	}
	if (k) {
		ctl_refuse(gw, token, id, NULL, "unknown key \"%s\"", k);
		return;
	}
	bus = json_string_value(json_object_get(args, "bus"));
	tname = json_string_value(json_object_get(args, "table"));
	if (!bus || !tname) {
		ctl_refuse(gw, token, id, NULL, "\"bus\" and \"table\" are required strings");
		return;
	}
	for (int t = 0; t < POINT_NTABLES; t++)
		if (strcmp(point_table_name((enum yw_table)t), tname) == 0)
			table = t;
	if (table < 0) {
		ctl_refuse(gw, token, id, NULL, "\"table\" must be coil, discrete, input or holding");
		return;
	}
	bool bits = table == TABLE_COIL || table == TABLE_DISCRETE;
	if (!json_object_get(args, "unit") || !json_object_get(args, "address")) {
		ctl_refuse(gw, token, id, NULL, "\"unit\" and \"address\" are required");
		return;
	}
	if (get_int(gw, token, id, args, "unit", 0, 255, &unit) < 0 ||
	    get_int(gw, token, id, args, "address", 0, 65535, &addr) < 0 ||
	    get_int(gw, token, id, args, "count", 1, bits ? BUS_RAW_MAX : 125, &count) < 0 ||
	    get_int(gw, token, id, args, "timeout_ms", 1, 60000, &tmo) < 0)
		return;
	if (addr + count > 65536) {
		ctl_refuse(gw, token, id, NULL, "address + count passes 65535");
		return;
	}
	for (b = 0; b < (int)gw->cfg->nbuses && strcmp(gw->cfg->buses[b].id, bus) != 0; b++)
		;
	if (b == (int)gw->cfg->nbuses) {
		ctl_refuse(gw, token, id, "unknown_bus", "no bus \"%s\" in the daemon's config", bus);
		return;
	}
	if (!gw->workers || !gw->workers[b]) {
		ctl_refuse(gw, token, id, "not_polled", "bus %s is not polled by the daemon", bus);
		return;
	}
	struct bus_cmd bc;
	memset(&bc, 0, sizeof bc);
	util_strlcpy(bc.req_id, id ? id : "", sizeof bc.req_id);
	bc.req_id_null = id == NULL;
	bc.origin = BUS_ORIGIN_CTL | token;
	bc.raw = true;
	bc.unit = (int)unit;
	bc.table = (enum yw_table)table;
	bc.start = (uint16_t)addr;
	bc.count = (uint16_t)count;
	bc.timeout_ms = (int)tmo;
	switch (bus_submit(gw->workers[b], &bc)) {
	case BUS_SUBMIT_OK:
		return;
	case BUS_SUBMIT_BUSY:
		ctl_refuse(gw, token, id, "busy", "busy: %d commands queued for bus %s",
			   BUS_CMD_QUEUE_MAX, bus);
		return;
	default:
		ctl_refuse(gw, token, id, "not_polled", "bus %s is not running", bus);
		return;
	}
}

void gw_ctl_raw_result(struct gateway *gw, const struct bus_result *r)
{
	const struct bus_cmd *c = &r->cmd;
	uint32_t token = c->origin & ~BUS_ORIGIN_CTL;
	json_t *o;

	if (!gw->ctl || !(c->origin & BUS_ORIGIN_CTL))
		return;
	if (r->cmd_ok && r->raw) {
		json_t *raw = json_array();
		for (size_t i = 0; i < c->count; i++)
			json_array_append_new(raw, json_integer(r->raw[i]));
		o = json_pack("{s:o, s:b, s:o}", "id", id_json(c->req_id, c->req_id_null), "ok", 1,
			      "raw", raw);
	} else {
		o = json_pack("{s:o, s:b, s:s, s:s}", "id", id_json(c->req_id, c->req_id_null), "ok",
			      0, "status", driver_status_name(r->raw_status), "error", r->error);
		if (o && (r->raw_status == DRV_EXCEPTION || r->raw_status == DRV_GATEWAY))
			json_object_set_new(o, "exception", json_integer(r->raw_exc));
	}
	ctl_send(gw, token, o);
}

void gateway_ctl_request(void *ctx, uint32_t token, const char *line, size_t len)
{
	static const char *const keys[] = { "cmd", "args", NULL };
	struct gateway *gw = ctx;
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *args;
	const char *verb, *k;

	if (!req || !json_is_object(req)) {
		if (req)
			ctl_refuse(gw, token, NULL, NULL, "malformed request: not a JSON object");
		else
			ctl_refuse(gw, token, NULL, NULL, "malformed JSON: %s", jerr.text);
		json_decref(req);
		return;
	}
	verb = json_string_value(json_object_get(req, "cmd"));
	args = json_object_get(req, "args");
	if ((k = unknown_key(req, keys)) != NULL) {
		ctl_refuse(gw, token, NULL, NULL, "unknown key \"%s\"", k);
	} else if (!verb) {
		ctl_refuse(gw, token, NULL, NULL, "\"cmd\" must be a string");
	} else if (args && !json_is_object(args)) {
		ctl_refuse(gw, token, NULL, NULL, "\"args\" must be an object");
	} else if (strcmp(verb, "status") == 0) {
		ctl_status(gw, token);
	} else if (strcmp(verb, "modbus_read") == 0) {
		json_t *empty = args ? NULL : json_object();
		ctl_modbus_read(gw, token, args ? args : empty);
		json_decref(empty);
	} else if (strcmp(verb, "ack") == 0 || strcmp(verb, "write") == 0 ||
		   strcmp(verb, "read") == 0) {
		enum pl_cmd_kind kind = verb[0] == 'a' ? PL_CMD_ACK :
					verb[0] == 'w' ? PL_CMD_WRITE : PL_CMD_READ;
		char *text = args ? json_dumps(args, JSON_COMPACT) : strdup("{}");
		char err[YW_TEXT_MAX];
		struct pl_cmd c;
		memset(&c, 0, sizeof c);
		if (!text) {
			ctl_refuse(gw, token, NULL, NULL, "out of memory");
		} else if (payload_parse_cmd(kind, text, strlen(text), &c, err, sizeof err) < 0) {
			log_warn("cmd", "refused %s from the control socket: %s", verb, err);
			gw_cmd_result(gw, BUS_ORIGIN_CTL | token, c.id_null ? NULL : c.id, false, err,
				      NULL);
		} else {
			gw_cmd_run(gw, &c, BUS_ORIGIN_CTL | token);
		}
		free(text);
	} else {
		ctl_refuse(gw, token, NULL, NULL,
			   "unknown cmd \"%.64s\" (status, ack, write, read, modbus_read)", verb);
	}
	json_decref(req);
}

void gateway_attach_ctl(struct gateway *gw, struct ctl *ctl)
{
	gw->ctl = ctl;
}
