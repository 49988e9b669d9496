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
#include "ctlreq.h"

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

	for (size_t i = 0; i < gw->nul; i++) {
		struct uplink_rt *u = gw->ul[i];
		int64_t oldest = 0, depth = gw_link_depth(u, &oldest);
		char t[40];
		json_t *o = json_pack("{s:s, s:b, s:I}", "id", u->id, "connected", gw_link_up(u),
				      "outbox_depth", (json_int_t)depth);
		if (o)
			json_object_set_new(o, "oldest", oldest > 0 ?
					    json_string(util_fmt_time(oldest, t, sizeof t)) : json_null());
		json_array_append_new(ups, o);
	}
	for (size_t b = 0; b < gw->cfg->nbuses; b++)
		json_array_append_new(buses, json_pack("{s:s, s:b}", "id", gw->cfg->buses[b].id,
						       "polled",
						       gw->workers && gw->workers[b] != NULL));
	util_fmt_time(gw->started_ms, started, sizeof started);
	ctl_send(gw, token, json_pack("{s:b, s:i, s:s, s:s, s:o, s:o}", "ok", 1, "pid",
				      (int)getpid(), "version", YW_VERSION, "started", started,
				      "uplinks", ups, "buses", buses));
}

static void ctl_modbus_read(struct gateway *gw, uint32_t token, const struct ctlreq *r)
{
	const char *id = r->id_null ? NULL : r->id;
	size_t b;

	for (b = 0; b < gw->cfg->nbuses && strcmp(gw->cfg->buses[b].id, r->bus) != 0; b++)
		;
	if (b == gw->cfg->nbuses) {
		ctl_refuse(gw, token, id, "unknown_bus", "no bus \"%s\" in the daemon's config",
			   r->bus);
		return;
	}
	if (!gw->workers || !gw->workers[b]) {
		ctl_refuse(gw, token, id, "not_polled", "bus %s is not polled by the daemon", r->bus);
		return;
	}
	struct bus_cmd bc;
	memset(&bc, 0, sizeof bc);
	util_strlcpy(bc.req_id, r->id, sizeof bc.req_id);
	bc.req_id_null = r->id_null;
	bc.origin = BUS_ORIGIN_CTL | token;
	bc.raw = true;
	bc.unit = r->unit;
	bc.table = r->table;
	bc.start = (uint16_t)r->address;
	bc.count = (uint16_t)r->count;
	bc.timeout_ms = r->timeout_ms;
	switch (bus_submit(gw->workers[b], &bc)) {
	case BUS_SUBMIT_OK:
		log_debug("ctl", "bus %s: read unit %d %s %d+%d for the control socket", r->bus,
			  r->unit, point_table_name(r->table), r->address, r->count);
		return;
	case BUS_SUBMIT_BUSY:
		ctl_refuse(gw, token, id, "busy", "busy: %d commands queued for bus %s",
			   BUS_CMD_QUEUE_MAX, r->bus);
		return;
	default:
		ctl_refuse(gw, token, id, "not_polled", "bus %s is not running", r->bus);
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
	struct gateway *gw = ctx;
	char err[YW_TEXT_MAX];
	struct ctlreq *r = malloc(sizeof *r);

	if (!r) {
		ctl_refuse(gw, token, NULL, NULL, "out of memory");
		return;
	}
	if (ctlreq_parse(line, len, r, err, sizeof err) < 0) {
		log_warn("ctl", "refused a request: %s", err);
		if (r->verb == CTLREQ_ACK || r->verb == CTLREQ_WRITE || r->verb == CTLREQ_READ)
			gw_cmd_result(gw, BUS_ORIGIN_CTL | token, NULL, r->id_null ? NULL : r->id, false,
				      err, NULL);
		else
			ctl_refuse(gw, token, r->id_null ? NULL : r->id, NULL, "%s", err);
	} else if (r->verb == CTLREQ_STATUS) {
		ctl_status(gw, token);
	} else if (r->verb == CTLREQ_MODBUS_READ) {
		ctl_modbus_read(gw, token, r);
	} else {
		gw_cmd_run(gw, &r->cmd, BUS_ORIGIN_CTL | token, NULL);
	}
	free(r);
}

void gateway_attach_ctl(struct gateway *gw, struct ctl *ctl)
{
	gw->ctl = ctl;
}
