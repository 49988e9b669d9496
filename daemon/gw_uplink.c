/*
 * gw_uplink: the outbox sender (alarm events first, a bounded number in
 * flight, PUBACK deletes the row), P/status, P/alarms/active and every
 * device's status republished on each connect, the MQTT callbacks (the
 * commands they bring are gw_cmd.c's). See gw_int.h.
 */
#include "gw_int.h"

/* ---------- outbox ---------- */

bool gw_outbox_pending(struct gateway *gw)
{
	return gw->ninflight > 0 || gw_held_unsent(gw) > 0 ||
	       store_outbox_link_depth(gw->st, gw->cfg->mqtt.id, NULL) > 0;
}

/* Held events in flight are sent again on the next connect. */
static void held_unsend(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nheld; i++)
		if (!gw->held[i].acked)
			gw->held[i].sent = false;
}

/* Publish the held events not yet sent, oldest first, while there is room
 * in flight. false when the link failed. */
static bool pump_held(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nheld && gw->ninflight < OUTBOX_INFLIGHT; i++) {
		struct held_event *h = &gw->held[i];
		int mid = 0;
		if (h->sent || h->acked || !h->topic)
			continue;
		if (mqtt_publish(gw->link, h->topic, h->json, 1, false, &mid) < 0)
			return false;
		h->sent = true;
		gw->inflight[gw->ninflight++] = (struct inflight){ .mid = mid, .row = 0, .seq = h->seq };
	}
	return true;
}

static bool is_inflight(const struct gateway *gw, int64_t row)
{
	for (int i = 0; i < gw->ninflight; i++)
		if (gw->inflight[i].row == row)
			return true;
	return false;
}

/* P/alarms/active: every active alarm, however many (the list is sized to
 * the config: nothing is ever left out). When memory runs out nothing is
 * published and it is tried again (active_dirty stays set). */
void gw_publish_active(struct gateway *gw)
{
	const struct config *cfg = gw->cfg;
	const char **events = malloc((cfg->nalarms + cfg->ndevices + 1) * sizeof *events);
	size_t n = 0;
	char topic[YW_TEXT_MAX * 4];

	if (!events) {
		log_error("mqtt", "out of memory building alarms/active; tried again later");
		return;
	}
	for (size_t a = 0; a < cfg->nalarms; a++)
		if (gw->alarms[a].st.active && gw->alarms[a].event)
			events[n++] = gw->alarms[a].event;
	for (size_t d = 0; d < cfg->ndevices; d++)
		if (gw->devs[d].off.active && gw->devs[d].off_event)
			events[n++] = gw->devs[d].off_event;
	char *json = payload_alarms_active(clock_stamp(), events, n);
	free(events);
	if (!json) {
		log_error("mqtt", "cannot build alarms/active (%zu alarms); tried again later", n);
		return;
	}
	gw_topic_of(gw, topic, sizeof topic, "alarms/active");
	if (mqtt_publish(gw->link, topic, json, 1, true, NULL) == 0)
		gw->active_dirty = false;
	free(json);
}

/* Send outbox rows oldest first while there is room in flight: the alarm
 * events of the store, then the held events (newer: they wait behind the
 * store's), then device status rows. Rows leave the store only on PUBACK
 * (cb_publish). */
void gw_pump(struct gateway *gw)
{
	struct outbox_row rows[OUTBOX_INFLIGHT];

	if (!gw->link || !mqtt_connected(gw->link))
		return;
	while (gw->ninflight < OUTBOX_INFLIGHT) {
		if (gw->outbox_idle || gw->cur_prio > PRIO_ALARM) {
			if (!pump_held(gw))
				goto link_down;
			if (gw->outbox_idle || gw->ninflight >= OUTBOX_INFLIGHT)
				break;
		}
		int want = OUTBOX_INFLIGHT - gw->ninflight;
		int n = store_outbox_fetch(gw->st, gw->cfg->mqtt.id, gw->cur_prio, gw->cur_id, rows, want);
		if (n < 0) {
			/* the store cannot be read: held events still go */
			if (!pump_held(gw))
				goto link_down;
			return;
		}
		if (n == 0) {
			gw->outbox_idle = true;
			continue;
		}
		for (int i = 0; i < n; i++) {
			int mid = 0;
			if (rows[i].prio > PRIO_ALARM && gw->cur_prio <= PRIO_ALARM &&
			    gw_held_unsent(gw) > 0) {
				/* the store's alarm rows are out: held events next */
				for (int j = i; j < n; j++)
					store_outbox_row_free(&rows[j]);
				gw->cur_prio = PRIO_ALARM + 1;
				gw->cur_id = 0;
				break;
			}
			gw->cur_prio = rows[i].prio;
			gw->cur_id = rows[i].id;
			if (!is_inflight(gw, rows[i].id) && gw->ninflight < OUTBOX_INFLIGHT) {
				if (mqtt_publish(gw->link, rows[i].topic, rows[i].payload, rows[i].qos,
						 rows[i].retain, &mid) < 0) {
					/* Link went down: start over on the next connect. */
					for (int j = i; j < n; j++)
						store_outbox_row_free(&rows[j]);
					gw->cur_prio = -1;
					gw->cur_id = 0;
					return;
				}
				if (rows[i].qos > 0) {
					gw->inflight[gw->ninflight++] = (struct inflight){
						.mid = mid, .row = rows[i].id, .seq = 0 };
				} else {
					store_outbox_delete(gw->st, rows[i].id);
				}
			}
			store_outbox_row_free(&rows[i]);
		}
	}
	if (gw->active_dirty && !gw_outbox_pending(gw))
		gw_publish_active(gw);
	if (gw->statuses_dirty && !gw_outbox_pending(gw))
		gw_publish_device_statuses(gw);
	return;

link_down:
	/* start over on the next connect */
	gw->cur_prio = -1;
	gw->cur_id = 0;
}

void gw_publish_status(struct gateway *gw)
{
	struct pl_status ps = {
		.version = YW_VERSION,
		.started_ms = gw->started_ms,
		.ts_ms = clock_stamp(),
		.outbox = store_outbox_link_depth(gw->st, gw->cfg->mqtt.id, NULL) + (int64_t)gw->nheld,
		.store_failing = gw->store_failing,
	};
	char *json = payload_status_online(&ps);
	if (!json)
		return;
	mqtt_publish(gw->link, gw->status_topic, json, 1, true, NULL);
	free(json);
}

/* Every known device's current status, retained, straight to the broker
 * (not through the outbox): after a connect, once the outbox has drained,
 * so that a status row still queued (older) never lands after it and a
 * broker that never held them (another node of a cluster) has them all. */
void gw_publish_device_statuses(struct gateway *gw)
{
	char topic[YW_TEXT_MAX * 4];
	int64_t ts = clock_stamp();

	for (size_t d = 0; d < gw->cfg->ndevices; d++) {
		const struct dev_rt *dr = &gw->devs[d];
		char *json;

		if (!gw->cfg->devices[d].enabled || dr->state == -1)
			continue;       /* never polled: nothing to say yet */
		json = payload_device_status(dr->id, dr->state == 1, ts, dr->last_ok_ms, dr->errors);
		if (!json)
			return;
		gw_topic_of(gw, topic, sizeof topic, "device/%s/status", dr->id);
		int rc = mqtt_publish(gw->link, topic, json, 1, true, NULL);
		free(json);
		if (rc < 0)
			return;         /* link down: again on the next connect */
	}
	gw->statuses_dirty = false;
}

static void cb_connect(void *ctx)
{
	struct gateway *gw = ctx;
	gw->ninflight = 0;
	held_unsend(gw);
	gw->cur_prio = -1;
	gw->cur_id = 0;
	gw->outbox_idle = false;
	gw->active_dirty = true;
	gw->statuses_dirty = true;
	gw_publish_status(gw);
	gw_pump(gw);
}

static void cb_disconnect(void *ctx)
{
	struct gateway *gw = ctx;
	/* Whatever was in flight is sent again on the next connect. */
	gw->ninflight = 0;
	held_unsend(gw);
	gw->cur_prio = -1;
	gw->cur_id = 0;
}

static void cb_publish(void *ctx, int mid)
{
	struct gateway *gw = ctx;
	for (int i = 0; i < gw->ninflight; i++) {
		if (gw->inflight[i].mid != mid)
			continue;
		if (gw->inflight[i].row > 0) {
			store_outbox_delete(gw->st, gw->inflight[i].row);
		} else {
			struct held_event *h = gw_held_find(gw, gw->inflight[i].seq);
			if (h)
				h->acked = true;
		}
		gw->inflight[i] = gw->inflight[--gw->ninflight];
		gw_pump(gw);
		return;
	}
}

const struct mqtt_callbacks gateway_mqtt_callbacks = {
	.on_connect = cb_connect,
	.on_disconnect = cb_disconnect,
	.on_publish = cb_publish,
	.on_message = gw_cmd_mqtt_message,
};
