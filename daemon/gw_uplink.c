/*
 * gw_uplink: each MQTT link's sender: its queue (the store's outbox rows of
 * the link, alarm events first, a bounded number in flight, PUBACK deletes
 * the row), its held events, P/status, P/alarms/active (the alarms it
 * selects) and every selected device's status republished on each connect,
 * and the MQTT callbacks (the commands they bring are gw_cmd.c's). Links
 * never wait on each other: each has its own cursor, messages in flight and
 * connection. See gw_int.h.
 */
#include "gw_int.h"

/* ---------- the links of the config ---------- */

static void link_names(struct uplink_rt *u)
{
	const struct config *cfg = u->gw->cfg;
	snprintf(u->prefix, sizeof u->prefix, "%s/%s/%s", u->cfg->topic_prefix, cfg->site_id,
		 cfg->gateway);
	snprintf(u->status_topic, sizeof u->status_topic, "%s/status", u->prefix);
}

void gw_link_reset(struct uplink_rt *u)
{
	u->ninflight = 0;
	u->cur_prio = -1;
	u->cur_id = 0;
	u->outbox_idle = false;
	u->active_dirty = true;
	u->statuses_dirty = true;
}

/* The links of gw->cfg into gw->ul: a link whose id was there before keeps
 * its state object (its MQTT link's callbacks point at it); the others are
 * made, and those of links that are gone freed (main.c has stopped them).
 * The held events' link bits follow the links by id. */
int gw_links_setup(struct gateway *gw)
{
	const struct config *cfg = gw->cfg;
	size_t n = config_nlinks(cfg);
	struct uplink_rt *next[GW_LINKS_MAX] = { 0 };
	int moved[GW_LINKS_MAX];
	int64_t now = util_mono_ms();

	if (n > GW_LINKS_MAX) {
		log_error("gateway", "%zu MQTT links: at most %d", n, GW_LINKS_MAX);
		return -1;
	}
	for (size_t i = 0; i < GW_LINKS_MAX; i++)
		moved[i] = -1;
	for (size_t i = 0; i < n; i++) {
		const struct mqtt_cfg *lc = config_link(cfg, i);
		for (size_t j = 0; j < gw->nul; j++)
			if (gw->ul[j] && strcmp(gw->ul[j]->id, lc->id) == 0) {
				next[i] = gw->ul[j];
				gw->ul[j] = NULL;
				moved[j] = (int)i;
			}
		if (!next[i]) {
			next[i] = calloc(1, sizeof *next[i]);
			if (!next[i]) {
				log_error("gateway", "out of memory");
				for (size_t k = 0; k < i; k++)
					if (next[k]) {
						/* put back what was taken */
						for (size_t j = 0; j < gw->nul; j++)
							if (moved[j] == (int)k)
								gw->ul[j] = next[k];
					}
				for (size_t k = 0; k < i; k++) {
					bool back = false;
					for (size_t j = 0; j < gw->nul; j++)
						back |= gw->ul[j] == next[k];
					if (!back)
						free(next[k]);
				}
				return -1;
			}
			next[i]->gw = gw;
			util_strlcpy(next[i]->id, lc->id, sizeof next[i]->id);
			gw_link_reset(next[i]);
			next[i]->next_telemetry = now + (lc->telemetry_interval_s > 0 ?
							 lc->telemetry_interval_s * 1000 : 0);
		}
		next[i]->cfg = lc;
		next[i]->idx = (int)i;
		link_names(next[i]);
	}
	for (size_t j = 0; j < gw->nul; j++)
		free(gw->ul[j]);   /* links that are gone */
	/* held events: bit j of the old links becomes bit moved[j] */
	for (size_t h = 0; h < gw->nheld; h++) {
		struct held_event *e = &gw->held[h];
		uint32_t l = 0, sent = 0, acked = 0;
		for (size_t j = 0; j < gw->nul; j++) {
			if (moved[j] < 0)
				continue;
			uint32_t from = 1u << j, to = 1u << moved[j];
			l |= e->links & from ? to : 0;
			sent |= e->sent & from ? to : 0;
			acked |= e->acked & from ? to : 0;
		}
		e->links = l;
		e->sent = sent;
		e->acked = acked;
	}
	memcpy(gw->ul, next, sizeof next);
	gw->nul = n;
	return 0;
}

void gw_links_free(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nul; i++)
		free(gw->ul[i]);
	gw->nul = 0;
}

void *gateway_link_ctx(struct gateway *gw, size_t i)
{
	return i < gw->nul ? gw->ul[i] : NULL;
}

const char *gateway_link_status_topic(const struct gateway *gw, size_t i)
{
	return i < gw->nul ? gw->ul[i]->status_topic : NULL;
}

/* ---------- one link's queue ---------- */

int64_t gw_link_depth(struct uplink_rt *u, int64_t *oldest_ms)
{
	int64_t n = store_outbox_link_depth(u->gw->st, u->id, oldest_ms);

	if (n < 0)
		n = 0;
	return n + (int64_t)gw_held_pending(u);
}

bool gw_outbox_pending(struct uplink_rt *u)
{
	return u->ninflight > 0 || gw_held_unsent(u) > 0 ||
	       store_outbox_link_depth(u->gw->st, u->id, NULL) > 0;
}

/* Held events in flight on U are sent again on its next connect. */
static void held_unsend(struct uplink_rt *u)
{
	uint32_t bit = 1u << u->idx;
	for (size_t i = 0; i < u->gw->nheld; i++)
		u->gw->held[i].sent &= ~bit;
}

/* Publish U's held events not yet sent, oldest first, while there is room
 * in flight. false when the link failed. */
static bool pump_held(struct uplink_rt *u)
{
	struct gateway *gw = u->gw;
	uint32_t bit = 1u << u->idx;
	char topic[YW_TEXT_MAX * 4];

	for (size_t i = 0; i < gw->nheld && u->ninflight < OUTBOX_INFLIGHT; i++) {
		struct held_event *h = &gw->held[i];
		int mid = 0;
		if (!(h->links & bit) || (h->sent & bit) || (h->acked & bit))
			continue;
		gw_topic_of(u, topic, sizeof topic, "alarm/%s/%s", config_category_name(h->cat),
			    h->alarm);
		if (mqtt_publish(u->link, topic, h->json, 1, false, &mid) < 0)
			return false;
		h->sent |= bit;
		u->inflight[u->ninflight++] = (struct inflight){ .mid = mid, .row = 0, .seq = h->seq };
	}
	return true;
}

static bool is_inflight(const struct uplink_rt *u, int64_t row)
{
	for (int i = 0; i < u->ninflight; i++)
		if (u->inflight[i].row == row)
			return true;
	return false;
}

/* P/alarms/active: every active alarm U selects, however many (the list is
 * sized to the config: nothing is ever left out). When memory runs out
 * nothing is published and it is tried again (active_dirty stays set). */
void gw_publish_active(struct uplink_rt *u)
{
	struct gateway *gw = u->gw;
	const struct config *cfg = gw->cfg;
	const char **events = malloc((cfg->nalarms + cfg->ndevices + 1) * sizeof *events);
	size_t n = 0;
	char topic[YW_TEXT_MAX * 4];

	if (!events) {
		log_error("mqtt", "out of memory building alarms/active; tried again later");
		return;
	}
	for (size_t a = 0; a < cfg->nalarms; a++)
		if (gw->alarms[a].st.active && gw->alarms[a].event &&
		    gw_selects(u, cfg->alarms[a].device, (int)cfg->alarms[a].category))
			events[n++] = gw->alarms[a].event;
	for (size_t d = 0; d < cfg->ndevices; d++)
		if (gw->devs[d].off.active && gw->devs[d].off_event &&
		    gw_selects(u, (int)d, (int)cfg->devices[d].category))
			events[n++] = gw->devs[d].off_event;
	char *json = payload_alarms_active(clock_stamp(), events, n);
	free(events);
	if (!json) {
		log_error("mqtt", "cannot build alarms/active (%zu alarms); tried again later", n);
		return;
	}
	gw_topic_of(u, topic, sizeof topic, "alarms/active");
	if (mqtt_publish(u->link, topic, json, 1, true, NULL) == 0)
		u->active_dirty = false;
	free(json);
}

/* Send U's rows oldest first while there is room in flight: its alarm
 * events in the store, then its held events (newer: they wait behind the
 * store's), then device status rows. Rows leave the store only on PUBACK
 * (cb_publish). */
void gw_pump(struct uplink_rt *u)
{
	struct gateway *gw = u->gw;
	struct outbox_row rows[OUTBOX_INFLIGHT];

	if (!gw_link_up(u))
		return;
	while (u->ninflight < OUTBOX_INFLIGHT) {
		if (u->outbox_idle || u->cur_prio > PRIO_ALARM) {
			if (!pump_held(u))
				goto link_down;
			if (u->outbox_idle || u->ninflight >= OUTBOX_INFLIGHT)
				break;
		}
		int want = OUTBOX_INFLIGHT - u->ninflight;
		int n = store_outbox_fetch(gw->st, u->id, u->cur_prio, u->cur_id, rows, want);
		if (n < 0) {
			/* the store cannot be read: held events still go */
			if (!pump_held(u))
				goto link_down;
			return;
		}
		if (n == 0) {
			u->outbox_idle = true;
			continue;
		}
		for (int i = 0; i < n; i++) {
			int mid = 0;
			if (rows[i].prio > PRIO_ALARM && u->cur_prio <= PRIO_ALARM &&
			    gw_held_unsent(u) > 0) {
				/* the store's alarm rows are out: held events next */
				for (int j = i; j < n; j++)
					store_outbox_row_free(&rows[j]);
				u->cur_prio = PRIO_ALARM + 1;
				u->cur_id = 0;
				break;
			}
			u->cur_prio = rows[i].prio;
			u->cur_id = rows[i].id;
			if (!is_inflight(u, rows[i].id) && u->ninflight < OUTBOX_INFLIGHT) {
				if (mqtt_publish(u->link, rows[i].topic, rows[i].payload, rows[i].qos,
						 rows[i].retain, &mid) < 0) {
					/* Link went down: start over on the next connect. */
					for (int j = i; j < n; j++)
						store_outbox_row_free(&rows[j]);
					u->cur_prio = -1;
					u->cur_id = 0;
					return;
				}
				if (rows[i].qos > 0) {
					u->inflight[u->ninflight++] = (struct inflight){
						.mid = mid, .row = rows[i].id, .seq = 0 };
				} else {
					store_outbox_delete(gw->st, rows[i].id);
				}
			}
			store_outbox_row_free(&rows[i]);
		}
	}
	if (u->active_dirty && !gw_outbox_pending(u))
		gw_publish_active(u);
	if (u->statuses_dirty && !gw_outbox_pending(u))
		gw_publish_device_statuses(u);
	return;

link_down:
	/* start over on the next connect */
	u->cur_prio = -1;
	u->cur_id = 0;
}

void gw_pump_all(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nul; i++)
		gw_pump(gw->ul[i]);
}

void gw_outbox_restart(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nul; i++) {
		struct uplink_rt *u = gw->ul[i];
		u->active_dirty = true;
		u->cur_prio = -1;
		u->cur_id = 0;
		u->outbox_idle = false;
	}
}

void gw_publish_status(struct uplink_rt *u)
{
	struct gateway *gw = u->gw;
	struct pl_status ps = {
		.version = YW_VERSION,
		.started_ms = gw->started_ms,
		.ts_ms = clock_stamp(),
		.outbox = gw_link_depth(u, NULL),
		.store_failing = gw->store_failing,
	};
	char *json = payload_status_online(&ps);
	if (!json)
		return;
	mqtt_publish(u->link, u->status_topic, json, 1, true, NULL);
	free(json);
}

void gw_publish_status_all(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nul; i++)
		if (gw_link_up(gw->ul[i]))
			gw_publish_status(gw->ul[i]);
}

/* Every selected device's current status, retained, straight to the broker
 * (not through the queue): after a connect, once the queue has drained, so
 * that a status row still queued (older) never lands after it and a broker
 * that never held them (another node of a cluster) has them all. */
void gw_publish_device_statuses(struct uplink_rt *u)
{
	struct gateway *gw = u->gw;
	char topic[YW_TEXT_MAX * 4];
	int64_t ts = clock_stamp();

	for (size_t d = 0; d < gw->cfg->ndevices; d++) {
		const struct dev_rt *dr = &gw->devs[d];
		char *json;

		if (!gw->cfg->devices[d].enabled || dr->state == -1 ||
		    !gw_selects(u, (int)d, (int)gw->cfg->devices[d].category))
			continue;       /* never polled: nothing to say yet */
		json = payload_device_status(dr->id, dr->state == 1, ts, dr->last_ok_ms, dr->errors);
		if (!json)
			return;
		gw_topic_of(u, topic, sizeof topic, "device/%s/status", dr->id);
		int rc = mqtt_publish(u->link, topic, json, 1, true, NULL);
		free(json);
		if (rc < 0)
			return;         /* link down: again on the next connect */
	}
	u->statuses_dirty = false;
}

/* ---------- the link's callbacks (ctx: the uplink_rt) ---------- */

static void cb_connect(void *ctx)
{
	struct uplink_rt *u = ctx;
	u->ninflight = 0;
	held_unsend(u);
	u->cur_prio = -1;
	u->cur_id = 0;
	u->outbox_idle = false;
	u->active_dirty = true;
	u->statuses_dirty = true;
	gw_publish_status(u);
	gw_pump(u);
}

static void cb_disconnect(void *ctx)
{
	struct uplink_rt *u = ctx;
	/* Whatever was in flight is sent again on the next connect. */
	u->ninflight = 0;
	held_unsend(u);
	u->cur_prio = -1;
	u->cur_id = 0;
}

static void cb_publish(void *ctx, int mid)
{
	struct uplink_rt *u = ctx;
	for (int i = 0; i < u->ninflight; i++) {
		if (u->inflight[i].mid != mid)
			continue;
		if (u->inflight[i].row > 0) {
			store_outbox_delete(u->gw->st, u->inflight[i].row);
		} else {
			struct held_event *h = gw_held_find(u->gw, u->inflight[i].seq);
			if (h)
				h->acked |= 1u << u->idx;
		}
		u->inflight[i] = u->inflight[--u->ninflight];
		gw_pump(u);
		return;
	}
}

const struct mqtt_callbacks gateway_mqtt_callbacks = {
	.on_connect = cb_connect,
	.on_disconnect = cb_disconnect,
	.on_publish = cb_publish,
	.on_message = gw_cmd_mqtt_message,
};
