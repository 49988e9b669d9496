/*
 * gw_cmd: the commands, whoever sends them: the MQTT link (P/cmd/ack,
 * write, read; the result on P/cmd/result) or a client of the control
 * socket (gw_ctl.c; the result is its reply). One set of checks for both:
 * an ack is decided here at once, a write or read of a point goes to the
 * point's bus worker and its result comes back through gateway_on_result.
 * A command carries its origin (bus.h BUS_ORIGIN_*) so the result goes back
 * where the request came from. See gw_int.h.
 */
#include "gw_int.h"

#include "ctl.h"

/* The link whose id is LINK, or NULL (gone after a reload). */
static struct uplink_rt *link_by_id(struct gateway *gw, const char *link)
{
	for (size_t i = 0; link && i < gw->nul; i++)
		if (strcmp(gw->ul[i]->id, link) == 0)
			return gw->ul[i];
	return NULL;
}

void gw_cmd_result(struct gateway *gw, uint32_t origin, const char *link, const char *id, bool ok,
		   const char *err, const struct pl_value *value)
{
	struct uplink_rt *u = NULL;
	char topic[YW_TEXT_MAX * 4];
	char *json = payload_cmd_result(id, ok, err, value);

	if (!json) {
		log_error("cmd", "out of memory");
		return;
	}
	if (origin & BUS_ORIGIN_CTL) {
		if (gw->ctl)
			(void)ctl_reply(gw->ctl, origin & ~BUS_ORIGIN_CTL, json);
	} else if ((u = link_by_id(gw, link)) != NULL && u->link) {
		/* on the link that asked, under its prefix: never another's */
		gw_topic_of(u, topic, sizeof topic, "cmd/result");
		if (mqtt_publish(u->link, topic, json, 1, false, NULL) < 0)
			log_warn("cmd", "result of request %s not sent: broker link down",
				 id ? id : "null");
	}
	free(json);
}

static int find_point(const struct config *cfg, const char *full, int *dev, int *pt)
{
	char d[YW_FULLID_MAX];
	const char *dot = strchr(full, '.');
	if (!dot || (size_t)(dot - full) >= sizeof d)
		return -1;
	memcpy(d, full, (size_t)(dot - full));
	d[dot - full] = '\0';
	*dev = config_find_device(cfg, d);
	if (*dev < 0)
		return -1;
	*pt = config_find_point(&cfg->devices[*dev], dot + 1);
	return *pt < 0 ? -1 : 0;
}

/* Record the events of an acknowledgement; the first may not be held (an
 * ack that cannot be committed is refused). 0 / -1 with ERR filled. */
static int ack_record(struct gateway *gw, int a, int d, const enum alarm_event *ev, int n,
		      const struct alarm_state *next, int64_t ts, int64_t raised, char *err,
		      size_t errlen)
{
	for (int i = 0; i < n; i++) {
		int rc;
		if (a >= 0) {
			const struct alarm_cfg *ac = &gw->cfg->alarms[a];
			struct dev_rt *dr = &gw->devs[ac->device];
			rc = gw_emit_alarm(gw, a, ev[i], ts, raised ? raised : ts, dr->values[ac->pt],
					   dr->quality[ac->pt] == Q_GOOD, next, i > 0);
		} else {
			rc = gw_emit_offline(gw, d, ev[i], ts, raised ? raised : ts, next, i > 0);
		}
		if (rc < 0 && i == 0) {
			snprintf(err, errlen, "the acknowledgement could not be recorded: the store "
				 "cannot commit (alarm unchanged; try again)");
			return -1;
		}
	}
	return 0;
}

static void cmd_ack(struct gateway *gw, const struct pl_cmd *c, uint32_t origin,
		    const char *link)
{
	const char *id = c->id_null ? NULL : c->id;
	enum alarm_event ev[2];
	int64_t ts = clock_stamp();
	char err[YW_TEXT_MAX + 64];
	int a = config_find_alarm(gw->cfg, c->alarm), d = -1;
	struct alarm_state *cur = NULL;
	bool latch = false;

	if (a >= 0) {
		cur = &gw->alarms[a].st;
		latch = gw->cfg->alarms[a].latch;
	} else {
		/* DEVICE.offline */
		size_t len = strlen(c->alarm);
		if (len > 8 && strcmp(c->alarm + len - 8, ".offline") == 0) {
			char dev[YW_FULLID_MAX];
			util_strlcpy(dev, c->alarm, sizeof dev);
			dev[len - 8] = '\0';
			d = config_find_device(gw->cfg, dev);
			if (d >= 0)
				cur = &gw->devs[d].off;
		}
	}
	if (!cur) {
		snprintf(err, sizeof err, "unknown alarm %s", c->alarm);
		gw_cmd_result(gw, origin, link, id, false, err, NULL);
		return;
	}
	struct alarm_state next = *cur;
	int n = alarm_ack(latch, &next, ev);
	if (n < 0) {
		snprintf(err, sizeof err, "alarm %s is not active", c->alarm);
		gw_cmd_result(gw, origin, link, id, false, err, NULL);
		return;
	}
	if (ack_record(gw, a, d, ev, n, &next, ts, cur->raised_ts, err, sizeof err) < 0) {
		log_warn("cmd", "ack %s refused: %s", c->alarm, err);
		gw_cmd_result(gw, origin, link, id, false, err, NULL);
		return;
	}
	*cur = next;
	log_info("cmd", "ack %s by %s", c->alarm, *c->by ? c->by : "(unnamed)");
	gw_cmd_result(gw, origin, link, id, true, NULL, NULL);
}

static void cmd_point(struct gateway *gw, const struct pl_cmd *c, uint32_t origin,
		      const char *link)
{
	const char *id = c->id_null ? NULL : c->id;
	char err[YW_TEXT_MAX + 128];
	int d, p;

	if (find_point(gw->cfg, c->point, &d, &p) < 0) {
		snprintf(err, sizeof err, "unknown point %s", c->point);
		gw_cmd_result(gw, origin, link, id, false, err, NULL);
		return;
	}
	const struct device_cfg *dc = &gw->cfg->devices[d];
	const struct point_cfg *pc = &dc->points[p];
	if (!dc->enabled) {
		snprintf(err, sizeof err, "device %s is disabled", dc->id);
		gw_cmd_result(gw, origin, link, id, false, err, NULL);
		return;
	}
	if (c->kind == PL_CMD_WRITE) {
		double v = c->value.v;
		if (!pc->writable) {
			snprintf(err, sizeof err, "point %s is not writable", c->point);
			gw_cmd_result(gw, origin, link, id, false, err, NULL);
			return;
		}
		if (pc->type == TYPE_BOOL) {
			if (!c->value.is_bool && v != 0 && v != 1) {
				snprintf(err, sizeof err, "value out of range: %s is a bool (true/false or 0/1)",
					 c->point);
				gw_cmd_result(gw, origin, link, id, false, err, NULL);
				return;
			}
		} else {
			double lo, hi;
			int dec = 0;
			if (pc->decimals_from >= 0)
				dec = (int)gw->devs[d].values[pc->decimals_from];
			codec_range(pc, dec, &lo, &hi);
			if (pc->has_min)
				lo = pc->min;
			if (pc->has_max)
				hi = pc->max;
			if (c->value.is_bool || !(v >= lo && v <= hi)) {
				snprintf(err, sizeof err, "value out of range: %s takes %g..%g", c->point,
					 lo, hi);
				gw_cmd_result(gw, origin, link, id, false, err, NULL);
				return;
			}
		}
	}
	struct bus_cmd bc;
	memset(&bc, 0, sizeof bc);
	util_strlcpy(bc.req_id, c->id, sizeof bc.req_id);
	bc.req_id_null = c->id_null;
	bc.origin = origin;
	util_strlcpy(bc.link, link ? link : "", sizeof bc.link);
	util_strlcpy(bc.dev_id, dc->id, sizeof bc.dev_id);
	bc.pt = p;
	bc.write = c->kind == PL_CMD_WRITE;
	bc.value = c->value.is_bool ? (c->value.v != 0) : c->value.v;
	const char *bus = gw->cfg->buses[dc->bus].id;
	enum bus_submit_rc rc = BUS_SUBMIT_REFUSED;
	if (gw->workers && gw->workers[dc->bus])
		rc = bus_submit(gw->workers[dc->bus], &bc);
	/* Refused at once rather than queued behind timeouts: a busy bus or
	 * an offline device would answer late, and slow every poll meanwhile. */
	switch (rc) {
	case BUS_SUBMIT_OK:
		return;
	case BUS_SUBMIT_BUSY:
		snprintf(err, sizeof err, "busy: %d commands queued for bus %s", BUS_CMD_QUEUE_MAX,
			 bus);
		break;
	case BUS_SUBMIT_OFFLINE:
		snprintf(err, sizeof err, "device %s is offline", dc->id);
		break;
	case BUS_SUBMIT_REFUSED:
		snprintf(err, sizeof err, "bus %s is not running", bus);
		break;
	}
	log_info("cmd", "%s %s refused: %s", c->kind == PL_CMD_WRITE ? "write" : "read", c->point,
		 err);
	gw_cmd_result(gw, origin, link, id, false, err, NULL);
}

void gw_cmd_run(struct gateway *gw, const struct pl_cmd *c, uint32_t origin, const char *link)
{
	if (c->kind == PL_CMD_ACK)
		cmd_ack(gw, c, origin, link);
	else
		cmd_point(gw, c, origin, link);
}

void gw_cmd_on_result(struct gateway *gw, const struct bus_result *r)
{
	const struct bus_cmd *c = &r->cmd;
	const char *id = c->req_id_null ? NULL : c->req_id;

	if (c->raw) {
		gw_ctl_raw_result(gw, r);
		return;
	}
	if (r->dev < 0 || c->pt < 0 || (size_t)c->pt >= gw->cfg->devices[r->dev].npoints) {
		gw_cmd_result(gw, c->origin, c->link, id, false,
			      "configuration changed while the request ran",
			      NULL);
		return;
	}
	const struct point_cfg *pc = &gw->cfg->devices[r->dev].points[c->pt];
	struct pl_value v = gw_pv_of(pc, r->cmd_value, r->cmd_ok);
	log_info("cmd", "%s %s.%s: %s%s", c->write ? "write" : "read",
		 gw->cfg->devices[r->dev].id, pc->name, r->cmd_ok ? "ok" : "failed: ",
		 r->cmd_ok ? "" : r->error);
	gw_cmd_result(gw, c->origin, c->link, id, r->cmd_ok, r->cmd_ok ? NULL : r->error,
		      r->cmd_ok ? &v : NULL);
}

void gw_cmd_mqtt_message(void *ctx, const char *topic, const char *payload, size_t len)
{
	struct uplink_rt *u = ctx;
	struct gateway *gw = u->gw;
	char base[YW_TEXT_MAX * 4];
	char err[YW_TEXT_MAX];
	struct pl_cmd c;
	enum pl_cmd_kind kind;
	unsigned need;

	gw_topic_of(u, base, sizeof base, "cmd/");
	size_t bl = strlen(base);
	if (strncmp(topic, base, bl) != 0)
		return;
	const char *verb = topic + bl;
	if (strcmp(verb, "ack") == 0) {
		kind = PL_CMD_ACK;
		need = LINK_CMD_ACK;
	} else if (strcmp(verb, "write") == 0) {
		kind = PL_CMD_WRITE;
		need = LINK_CMD_WRITE;
	} else if (strcmp(verb, "read") == 0) {
		kind = PL_CMD_READ;
		need = LINK_CMD_READ;
	} else {
		return;   /* cmd/result (our own) and unknown verbs */
	}
	memset(&c, 0, sizeof c);
	if (!(u->cfg->commands & need)) {
		/* only the allowed topics are subscribed; a broker that delivers
		 * another anyway gets a refusal, and nothing runs */
		(void)payload_parse_cmd(kind, payload, len, &c, err, sizeof err);
		snprintf(err, sizeof err, "%s is not allowed on link %s", verb, u->id);
		log_warn("cmd", "refused %s on link %s: not among its commands", verb, u->id);
		gw_cmd_result(gw, BUS_ORIGIN_MQTT, u->id, c.id_null ? NULL : c.id, false, err, NULL);
		return;
	}
	if (payload_parse_cmd(kind, payload, len, &c, err, sizeof err) < 0) {
		log_warn("cmd", "refused %s: %s", verb, err);
		gw_cmd_result(gw, BUS_ORIGIN_MQTT, u->id, c.id_null ? NULL : c.id, false, err, NULL);
		return;
	}
	gw_cmd_run(gw, &c, BUS_ORIGIN_MQTT, u->id);
}
