/*
 * store: owns the SQLite file (WAL) of the gateway: readings, per-device
 * polling statistics and state log, alarm state, the alarm event log and the
 * MQTT outbox. Used by the main loop only (one thread).
 *
 * Writes are batched: readings, statistics, outbox deletions and device
 * status rows go into one open transaction that store_flush() commits (the
 * main loop calls it about once a second, synchronous=NORMAL). An alarm event
 * is different: store_commit_event() first commits the open batch, then
 * writes the event, the alarm's new state and its outbox row in one
 * transaction with synchronous=FULL, and returns only when it is on disk.
 *
 * The schema is versioned with PRAGMA user_version and migrated on open;
 * docs/store.md describes it. The command line (cli.c) reads the same file
 * read-only.
 */
#ifndef YW_STORE_H
#define YW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "util.h"
#include "alarm.h"

#define STORE_SCHEMA_VERSION 4

struct store;

/* Open or create the store at PATH, migrate the schema. 0 / -1 (logged). */
int store_open(const char *path, struct store **out);
/* Commit the open batch and close. NULL is a no-op. */
void store_close(struct store *st);

/* Bind the store to CFG (after open and after each reload): site/gateway,
 * retention, the device and point tables, and the last stored value of every
 * point (for deadband decisions). Device/point indices below refer to CFG.
 * CFG must outlive the binding (until the next store_configure). */
int store_configure(struct store *st, const struct config *cfg);

/* A reading of DEV's point PT. Stored when it differs from the last stored
 * value by more than the point's deadband, when store_max_interval_s has
 * passed, or when the quality changed. Returns 1 stored, 0 not worth storing,
 * -1 error. For quality bad/stale VALUE is ignored (stored as NULL). */
int store_put_reading(struct store *st, int dev, int pt, int64_t ts_ms,
		      double value, enum yw_quality q);

/* One poll cycle of DEV: OK says whether the link worked (the device answered,
 * exceptions included); the counts are failed requests by kind. */
struct store_poll {
	int64_t ts_ms;
	bool ok;
	int timeouts, exceptions, crc, other;
	int gateway;     /* exception 10/11: the device behind a gateway is unreachable */
};
int store_device_poll(struct store *st, int dev, const struct store_poll *p);

/* DEV changed state (online <-> offline), logged for availability reports. */
int store_device_state(struct store *st, int dev, int64_t ts_ms, bool online);

/* The newest stamp the store holds (events and readings); 0 when none or
 * on error. For the clock's estimate after a boot without a set clock. */
int64_t store_newest_ts(struct store *st);

/* Commit the open batch. 0 / -1. */
int store_flush(struct store *st);

/* Retention: delete readings older than retention_days, then the oldest
 * readings while the store passes the low mark of its budget (max_mb is the
 * file, its WAL and the journal ring together; docs/store.md "The
 * budget"); give pages back while the file passes its share. Alarm events
 * and outbox rows are never deleted here. Call every few minutes; bounded
 * work per call. (Size retention also follows every fold, and an event that
 * finds the store full makes room: store_commit_event.) */
int store_maintain(struct store *st, int64_t now_ms);

/* ---- alarms ---- */

/* The next event sequence number (1 for a new store), persistent across
 * restarts. The caller uses it for the event it then commits. */
int64_t store_next_seq(struct store *st);

/* Load the persisted state of ALARM_ID (an id as in the config, or
 * "DEVICE.offline"). Returns 1 and fills S (and *LAST_EVENT, a malloc'd JSON
 * string of the latest event, owned by the caller, when LAST_EVENT is not
 * NULL) when found, 0 when unknown (S initialised), -1 on error. */
int store_alarm_load(struct store *st, const char *alarm_id, struct alarm_state *s,
		     char **last_event);

/* Where a queued message goes: a link (its id) and the topic there. */
struct store_dest {
	const char *link;
	const char *topic;
};

/* Durably commit one alarm event: event log row (SEQ, ALARM_ID, STATE name,
 * CATEGORY, SEVERITY, TS_MS, EVENT_JSON), the alarm's new state S, and one
 * outbox row (priority 0, EVENT_JSON, QoS 1) per destination DESTS[0..N)
 * (each link that selects the event). One transaction, synchronous=FULL.
 * No destination (a gateway without MQTT): no outbox row.
 * When the disk or the budget is full the oldest readings make room and it
 * is tried once more. 0 / -1; on -1 nothing of it was written. */
int store_commit_event(struct store *st, int64_t seq, const char *alarm_id,
		       enum alarm_event ev, enum yw_category cat, enum yw_severity sev,
		       int64_t ts_ms, const char *event_json, const struct alarm_state *s,
		       const struct store_dest *dests, size_t ndests);

/* ---- outbox ---- */

enum store_prio { PRIO_ALARM = 0, PRIO_STATUS = 1 };

struct outbox_row {
	int64_t id;
	int64_t created;  /* wall ms when it was queued */
	int prio;
	char *topic;      /* owned by the row */
	char *payload;    /* owned by the row */
	int qos;
	bool retain;
};

/* Every row belongs to one link's queue (LINK, the link's id): a row
 * leaves only on that link's PUBACK. */

/* Queue a retained message for TOPIC on LINK in the open batch, after
 * deleting LINK's queued rows of the same PRIO and TOPIC that are retained
 * and not in flight (ids INFLIGHT[0..N): their PUBACK deletes them): for a
 * retained topic only the latest state matters. Never for alarm events.
 * 0 / -1. */
int store_outbox_supersede(struct store *st, const char *link, enum store_prio prio,
			   const char *topic, const char *payload, int qos,
			   const int64_t *inflight, size_t n);

/* Queue a message on LINK in the open batch. */
int store_outbox_add(struct store *st, const char *link, enum store_prio prio, const char *topic,
		     const char *payload, int qos, bool retain);

/* Up to MAX rows of LINK ordered by (prio, id) strictly after (AFTER_PRIO,
 * AFTER_ID); pass (-1, 0) for the start. Returns the count (0..MAX) or -1. */
int store_outbox_fetch(struct store *st, const char *link, int after_prio, int64_t after_id,
		       struct outbox_row *rows, int max);

/* LINK's unsent rows, and *OLDEST (when not NULL) the wall ms its oldest
 * was queued (0 when none). -1 on error. */
int64_t store_outbox_link_depth(struct store *st, const char *link, int64_t *oldest);

/* Drop every queued row of a link that is gone (a reload removed it),
 * except those of the links KEEP[0..N). Returns the rows dropped, -1. */
int64_t store_outbox_drop_others(struct store *st, const char *const *keep, size_t n);
void store_outbox_row_free(struct outbox_row *row);

/* The broker acknowledged row ID: delete it (in the open batch). */
int store_outbox_delete(struct store *st, int64_t id);

/* Unsent rows, every link's. */
int64_t store_outbox_depth(struct store *st);

#endif
