/*
 * gw_int: the gateway's state and what its files share (private to the
 * gateway). The gateway is:
 *   gateway.c    lifecycle and reload, bus results, device status, timers
 *   gw_alarms.c  alarm evaluation and the events it commits and publishes
 *   gw_events.c  the durability path of an event (commit or hold)
 *   gw_uplink.c  the MQTT links of the config and each one's sender, P/status
 *                and alarms/active, the links' callbacks
 *   gw_cmd.c     the commands (MQTT or the control socket)
 *   gw_ctl.c     the control socket's requests
 *   gw_live.c    the status page's snapshot
 */
#ifndef YW_GW_INT_H
#define YW_GW_INT_H

#include "gateway.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarm.h"
#include "clock.h"
#include "../drivers/codec.h"
#include "log.h"
#include "payload.h"
#include "util.h"
#include "version.h"

#define OUTBOX_INFLIGHT 16      /* QoS 1 messages in flight at once */
#define FLUSH_MS 1000           /* batch commit period */
#define MAINTAIN_MS (5 * 60 * 1000)
#define STATUS_MS (60 * 1000)   /* P/status refresh (outbox depth) */

/* Runtime state of one device, kept across reloads by id. */
struct dev_rt {
	char id[YW_ID_MAX];
	int state;                  /* -1 unknown, 0 offline, 1 online */
	int64_t last_ok_ms;
	int64_t errors;             /* failed requests since start */
	struct alarm_state off;     /* implicit DEVICE.offline alarm */
	bool raised_unset;          /* it was raised while the clock was not set */
	char *off_event;            /* latest event JSON of the offline alarm */
	size_t npoints;
	double *values;             /* latest value per point */
	uint8_t *quality;           /* latest quality per point (Q_STALE: none) */
};

/* Runtime state of one configured alarm. */
struct alarm_rt {
	struct alarm_state st;
	char *event;                /* latest event JSON (for alarms/active) */
	bool raised_unset;          /* it was raised while the clock was not set */
};

/* A message in flight: an outbox row of the store (ROW > 0) or a held
 * event (ROW == 0, SEQ names it). */
struct inflight {
	int mid;
	int64_t row;
	int64_t seq;
};

/* An alarm event the store could not commit (disk full, I/O error, locked):
 * it is held here with its seq, published from here, and written to the
 * store, in seq order, as soon as the store takes it (gw_events.c). The
 * masks have a bit per link (its index in gw->ul). */
struct held_event {
	int64_t seq;
	char alarm[YW_FULLID_MAX];
	enum alarm_event ev;
	enum yw_category cat;
	enum yw_severity sev;
	int64_t ts_ms;
	struct alarm_state state;   /* the alarm's state after the event */
	char *json;                 /* owned */
	uint32_t links;             /* the links that take it */
	uint32_t sent;              /* published there, PUBACK not yet seen */
	uint32_t acked;             /* acknowledged there */
};
#define HELD_MAX 4096           /* events held at most (bounded memory) */

/* One MQTT link at run time (the mqtt section's, or an uplink's): its own
 * topic prefix, queue cursor, messages in flight and timers. Allocated once
 * per link id and kept across reloads while the id stays (the link's
 * callbacks have it as their context). */
struct uplink_rt {
	struct gateway *gw;
	int idx;                    /* its index in gw->ul (and in the config's links) */
	const struct mqtt_cfg *cfg; /* the link's config, in gw->cfg */
	char id[YW_ID_MAX];
	struct mqtt_link *link;     /* attached by main.c; NULL while none */
	char prefix[YW_TEXT_MAX * 2];   /* P = topic_prefix/site/gateway */
	char status_topic[YW_TEXT_MAX * 2 + 16];
	struct inflight inflight[OUTBOX_INFLIGHT];
	int ninflight;
	int cur_prio;
	int64_t cur_id;
	bool outbox_idle;           /* the last fetch found nothing new */
	bool active_dirty;          /* alarms/active must be republished */
	bool statuses_dirty;        /* every device's status must be republished */
	int64_t next_telemetry;
};
#define GW_LINKS_MAX CONFIG_LINKS_MAX   /* links at most (the held events' masks) */

struct gateway {
	const struct config *cfg;
	struct store *st;
	struct bus_worker **workers;
	struct uplink_rt *ul[GW_LINKS_MAX];   /* owned: the config's links, in order */
	size_t nul;
	struct ctl *ctl;            /* the control socket, or NULL */

	struct dev_rt *devs;        /* cfg->ndevices */
	struct alarm_rt *alarms;    /* cfg->nalarms */
	int **pt_alarms;            /* per device: per point: -1-terminated alarm list */

	int64_t started_ms;
	bool started_unset;         /* started_ms is an estimate (clock not set) */
	int64_t next_flush, next_maintain, next_status;

	/* durability (gw_events.c) */
	int64_t next_seq;           /* the seq of the next event */
	int seq_fd;                 /* STORE-seq: the highest seq ever held, or -1 */
	struct held_event *held;    /* owned: events not yet in the store, by seq */
	size_t nheld, capheld;
	bool store_failing;         /* the last commit failed; held events wait */
	int64_t store_fail_mono;    /* since when (monotonic ms) */
	char store_error[YW_TEXT_MAX];
};


/* gateway.c */
__attribute__((format(printf, 4, 5)))
void gw_topic_of(const struct uplink_rt *u, char *buf, size_t len, const char *fmt, ...);
bool gw_link_up(const struct uplink_rt *u);
/* U takes what is about device D (-1: none) of CATEGORY. */
bool gw_selects(const struct uplink_rt *u, int d, int category);
/* ... what is about alarm ALARM_ID (a configured alarm, or DEVICE.offline). */
bool gw_selects_alarm(const struct uplink_rt *u, const char *alarm_id, int category);
struct pl_value gw_pv_of(const struct point_cfg *p, double v, bool present);
const int *gw_alarms_of_point(const struct gateway *gw, int dev, int pt);

/* gw_cmd.c: commands from the MQTT link or the control socket; the result
 * goes back to ORIGIN (bus.h BUS_ORIGIN_*) */
void gw_cmd_result(struct gateway *gw, uint32_t origin, const char *link, const char *id, bool ok,
		   const char *err, const struct pl_value *value);
void gw_cmd_run(struct gateway *gw, const struct pl_cmd *c, uint32_t origin, const char *link);
void gw_cmd_on_result(struct gateway *gw, const struct bus_result *r);
void gw_cmd_mqtt_message(void *ctx, const char *topic, const char *payload, size_t len);

/* gw_ctl.c: the control socket's requests */
void gw_ctl_raw_result(struct gateway *gw, const struct bus_result *r);

/* gw_alarms.c */
int gw_emit_alarm(struct gateway *gw, int a, enum alarm_event ev, int64_t ts, int64_t raised_ts,
		  double value, bool have_value, const struct alarm_state *after, bool may_hold);
int gw_emit_offline(struct gateway *gw, int d, enum alarm_event ev, int64_t ts, int64_t raised_ts,
		    const struct alarm_state *after, bool may_hold);
void gw_eval_alarms(struct gateway *gw, int d, int p, double v, enum yw_quality q, int64_t ts);

/* gw_events.c */
int gw_events_init(struct gateway *gw);
void gw_events_free(struct gateway *gw);
int gw_commit_event(struct gateway *gw, struct pl_event *e, const struct alarm_state *after,
		    char **event_slot, bool may_hold);
void gw_store_held(struct gateway *gw);
/* Held events U takes and has neither sent nor had acknowledged. */
size_t gw_held_unsent(const struct uplink_rt *u);
/* ... not acknowledged by U yet (its share of P/status "outbox"). */
size_t gw_held_pending(const struct uplink_rt *u);
struct held_event *gw_held_find(struct gateway *gw, int64_t seq);

/* gw_uplink.c: each link's sender */
bool gw_outbox_pending(struct uplink_rt *u);
void gw_publish_active(struct uplink_rt *u);
void gw_pump(struct uplink_rt *u);
void gw_pump_all(struct gateway *gw);
/* New rows wait in the queues (alarm events go first): every link starts
 * its cursor again, and republishes alarms/active. */
void gw_outbox_restart(struct gateway *gw);
void gw_publish_status(struct uplink_rt *u);
void gw_publish_status_all(struct gateway *gw);
void gw_publish_device_statuses(struct uplink_rt *u);
/* U's unsent messages: its queue in the store and its held events. */
int64_t gw_link_depth(struct uplink_rt *u, int64_t *oldest_ms);
/* The links of the gateway's config: made, kept and freed by id. */
int gw_links_setup(struct gateway *gw);
void gw_links_free(struct gateway *gw);
/* U starts its sending afresh (a new connection, a new MQTT link). */
void gw_link_reset(struct uplink_rt *u);

#endif
