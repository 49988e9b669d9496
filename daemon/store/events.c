/*
 * events: alarm events, the event sequence, alarm state and the MQTT outbox.
 *
 * The durable path (docs/store.md, "Writes"): store_commit_event() commits
 * the open reading batch (a fold that happens to be due waits for the next
 * flush; a batch that cannot be committed, e.g. on a full disk, is rolled
 * back: readings make room for events), raises synchronous to FULL, and
 * writes in one BEGIN IMMEDIATE transaction
 *   1. the event row            (sql_event_add),
 *   2. the alarm's new state, with the event JSON as last_event
 *                               (sql_alarm_upsert),
 *   3. its outbox row: prio 0, QoS 1, not retained (sql_outbox_add; none
 *      without a topic, i.e. a gateway without MQTT),
 *   4. meta.last_seq            (sql_last_seq_set),
 * then COMMIT, which returns when all of it is on disk; synchronous goes
 * back to NORMAL. Only then may the caller publish. A failure (e.g. a
 * repeated seq) rolls all four back. When it failed because the disk or
 * the budget is full (SQLITE_FULL), the oldest readings make room at once
 * (store_make_room: one step of size retention) and the event is tried
 * once more; events and unsent outbox rows are never deleted for it.
 *
 * The outbox's other rows (device status) go into the open batch; a row
 * leaves when the broker acknowledged it.
 */
#include "store_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the durable path ---- */

static const char sql_event_add[] =
	"INSERT INTO events (seq, alarm, state, category, severity, ts, json)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static const char sql_alarm_upsert[] =
	"INSERT INTO alarm_state (alarm, active, acked, cond, raised_ts, value, seq, ts, last_event)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	" ON CONFLICT (alarm) DO UPDATE SET"
	"   active = excluded.active,"
	"   acked = excluded.acked,"
	"   cond = excluded.cond,"
	"   raised_ts = excluded.raised_ts,"
	"   value = excluded.value,"
	"   seq = excluded.seq,"
	"   ts = excluded.ts,"
	"   last_event = excluded.last_event";

static const char sql_outbox_add[] =
	"INSERT INTO outbox (prio, topic, payload, qos, retain, created, link)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/* last_seq never goes back, even if events were ever deleted. */
static const char sql_last_seq_set[] =
	"INSERT INTO meta (key, value) VALUES ('last_seq', ?1)"
	" ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)";

/* The event's transaction (steps 1 to 4 above). */
static int store_event_txn(struct store *st, int64_t seq, const char *alarm_id,
			   enum alarm_event ev, enum yw_category cat, enum yw_severity sev,
			   int64_t ts_ms, const char *event_json, const struct alarm_state *s,
			   const struct store_dest *dests, size_t ndests)
{
	sqlite3_stmt *q;

	if (store_exec(st, "PRAGMA synchronous = FULL", "set synchronous") < 0)
		return -1;
	if (store_simple(st, store_sql_begin_immediate, "begin event") < 0)
		goto out_sync;

	/* 1. the event row */
	if (!(q = store_stmt(st, sql_event_add)))
		goto out_rollback;
	sqlite3_bind_int64(q, 1, seq);
	sqlite3_bind_text(q, 2, alarm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, alarm_event_name(ev), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, config_category_name(cat), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, config_severity_name(sev), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, ts_ms);
	sqlite3_bind_text(q, 7, event_json, -1, SQLITE_STATIC);
	if (store_run(st, q, "write event") < 0)
		goto out_rollback;

	/* 2. the alarm's new state, the event as its last_event */
	if (!(q = store_stmt(st, sql_alarm_upsert)))
		goto out_rollback;
	sqlite3_bind_text(q, 1, alarm_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, s->active);
	sqlite3_bind_int(q, 3, s->acked);
	sqlite3_bind_int(q, 4, s->cond);
	sqlite3_bind_int64(q, 5, s->raised_ts);
	store_bind_real(q, 6, s->value);
	sqlite3_bind_int64(q, 7, seq);
	sqlite3_bind_int64(q, 8, ts_ms);
	sqlite3_bind_text(q, 9, event_json, -1, SQLITE_STATIC);
	if (store_run(st, q, "write alarm state") < 0)
		goto out_rollback;

	/* 3. an outbox row per link that takes it: prio 0, QoS 1, not retained */
	for (size_t i = 0; i < ndests; i++) {
		if (!(q = store_stmt(st, sql_outbox_add)))
			goto out_rollback;
		sqlite3_bind_int(q, 1, PRIO_ALARM);
		sqlite3_bind_text(q, 2, dests[i].topic, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, event_json, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 4, 1);
		sqlite3_bind_int(q, 5, 0);
		sqlite3_bind_int64(q, 6, util_wall_ms());
		sqlite3_bind_text(q, 7, dests[i].link, -1, SQLITE_STATIC);
		if (store_run(st, q, "queue event") < 0)
			goto out_rollback;
	}

	/* 4. the highest seq ever committed */
	if (!(q = store_stmt(st, sql_last_seq_set)))
		goto out_rollback;
	sqlite3_bind_int64(q, 1, seq);
	if (store_run(st, q, "write last seq") < 0)
		goto out_rollback;

	/* On disk when COMMIT returns (synchronous=FULL). */
	if (store_simple(st, store_sql_commit, "commit event") < 0)
		goto out_rollback;
	if (st->depth >= 0)
		st->depth += (int64_t)ndests;
	if (st->seq >= 0 && seq > st->seq)
		st->seq = seq;
	/* committed: a failure to lower synchronous again costs speed only */
	store_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous");
	return 0;

out_rollback:
	store_rollback(st, "rollback event");
out_sync:
	store_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous");
	return -1;
}

int store_commit_event(struct store *st, int64_t seq, const char *alarm_id,
		       enum alarm_event ev, enum yw_category cat, enum yw_severity sev,
		       int64_t ts_ms, const char *event_json, const struct alarm_state *s,
		       const struct store_dest *dests, size_t ndests)
{
	/* The batch first; a fold waits for the next flush. A batch that
	 * fails is rolled back (its readings are lost), and the event is tried
	 * all the same. */
	store_commit_batch(st, false);
	st->full = false;
	if (store_event_txn(st, seq, alarm_id, ev, cat, sev, ts_ms, event_json, s, dests, ndests) == 0)
		return 0;
	/* The disk or the budget is full: the oldest readings make room (one
	 * step of size retention), and the event is tried once more. */
	if (!st->full || store_make_room(st) <= 0)
		return -1;
	return store_event_txn(st, seq, alarm_id, ev, cat, sev, ts_ms, event_json, s, dests,
			       ndests);
}

/* ---- the newest stamp ---- */

static const char sql_newest_ts[] =
	"SELECT max(coalesce((SELECT max(ts) FROM events), 0),"
	"           coalesce((SELECT max(t1) FROM chunks), 0),"
	"           coalesce((SELECT max(ts) FROM journal_readings), 0))";

int64_t store_newest_ts(struct store *st)
{
	int64_t ts = 0;
	if (store_int(st, sql_newest_ts, &ts) < 0)
		return 0;
	return ts;
}

/* ---- sequence and alarm state ---- */

static const char sql_last_seq[] =
	"SELECT max(coalesce((SELECT max(seq) FROM events), 0),"
	"           coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0))";

static const char sql_alarm_load[] =
	"SELECT active, acked, cond, raised_ts, value, last_event"
	" FROM alarm_state WHERE alarm = ?1";

int64_t store_next_seq(struct store *st)
{
	if (st->seq < 0 && store_int(st, sql_last_seq, &st->seq) < 0) {
		st->seq = -1;
		return -1;
	}
	return st->seq + 1;
}

/* The state of an alarm never seen: as alarm_state_init() makes it. */
static void store_alarm_fresh(struct alarm_state *s)
{
	memset(s, 0, sizeof *s);
	s->pending_since = -1;
}

int store_alarm_load(struct store *st, const char *alarm_id, struct alarm_state *s,
		     char **last_event)
{
	sqlite3_stmt *q = store_stmt(st, sql_alarm_load);
	int r;

	store_alarm_fresh(s);
	if (last_event)
		*last_event = NULL;
	if (!q)
		return -1;
	sqlite3_bind_text(q, 1, alarm_id, -1, SQLITE_STATIC);
	r = store_row(st, q, "read alarm state");
	if (r <= 0)
		return r;
	s->active = sqlite3_column_int(q, 0) != 0;
	s->acked = sqlite3_column_int(q, 1) != 0;
	s->cond = sqlite3_column_int(q, 2) != 0;
	s->raised_ts = sqlite3_column_int64(q, 3);
	s->value = sqlite3_column_type(q, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 4);
	if (last_event) {
		const char *j = (const char *)sqlite3_column_text(q, 5);
		*last_event = strdup(j ? j : "");
		if (!*last_event) {
			sqlite3_reset(q);
			log_error("store", "out of memory");
			return -1;
		}
	}
	sqlite3_reset(q);
	return 1;
}

/* ---- outbox ---- */

static const char sql_outbox_fetch[] =
	"SELECT id, prio, topic, payload, qos, retain, created FROM outbox"
	" WHERE link = ?4 AND (prio, id) > (?1, ?2)"
	" ORDER BY prio, id LIMIT ?3";

static const char sql_outbox_link_count[] =
	"SELECT count(*), coalesce(min(created), 0) FROM outbox WHERE link = ?1";

static const char sql_outbox_delete[] = "DELETE FROM outbox WHERE id = ?1";

static const char sql_outbox_count[] = "SELECT count(*) FROM outbox";

static const char sql_outbox_same_topic[] =
	"SELECT id FROM outbox WHERE link = ?3 AND prio = ?1 AND topic = ?2 AND retain = 1";

static const char sql_outbox_del[] = "DELETE FROM outbox WHERE id = ?1";

int store_outbox_supersede(struct store *st, const char *link, enum store_prio prio,
			   const char *topic, const char *payload, int qos,
			   const int64_t *inflight, size_t n)
{
	int64_t old[64];
	size_t nold = 0;
	sqlite3_stmt *s;
	int rc;

	if (prio == PRIO_ALARM || store_batch(st) < 0 ||
	    !(s = store_stmt(st, sql_outbox_same_topic)))
		return -1;
	sqlite3_bind_int(s, 1, (int)prio);
	sqlite3_bind_text(s, 2, topic, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, link, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && nold < 64) {
		int64_t id = sqlite3_column_int64(s, 0);
		bool flying = false;
		for (size_t i = 0; i < n && !flying; i++)
			flying = inflight[i] == id;
		if (!flying)
			old[nold++] = id;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail(st, "find queued status");
		return -1;
	}
	for (size_t i = 0; i < nold; i++) {
		if (!(s = store_stmt(st, sql_outbox_del)))
			return -1;
		sqlite3_bind_int64(s, 1, old[i]);
		if (store_run(st, s, "supersede queued status") < 0)
			return -1;
		if (st->depth > 0)
			st->depth--;
	}
	return store_outbox_add(st, link, prio, topic, payload, qos, true);
}

int store_outbox_add(struct store *st, const char *link, enum store_prio prio, const char *topic,
		     const char *payload, int qos, bool retain)
{
	sqlite3_stmt *s;

	if (store_batch(st) < 0 || !(s = store_stmt(st, sql_outbox_add)))
		return -1;
	sqlite3_bind_int(s, 1, (int)prio);
	sqlite3_bind_text(s, 2, topic, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, qos);
	sqlite3_bind_int(s, 5, retain);
	sqlite3_bind_int64(s, 6, util_wall_ms());
	sqlite3_bind_text(s, 7, link, -1, SQLITE_STATIC);
	if (store_run(st, s, "queue message") < 0)
		return -1;
	if (st->depth >= 0)
		st->depth++;
	return 0;
}

void store_outbox_row_free(struct outbox_row *row)
{
	if (!row)
		return;
	free(row->topic);
	free(row->payload);
	row->topic = NULL;
	row->payload = NULL;
}

int store_outbox_fetch(struct store *st, const char *link, int after_prio, int64_t after_id,
		       struct outbox_row *rows, int max)
{
	sqlite3_stmt *s;
	int n = 0, rc = SQLITE_DONE;
	bool oom = false;

	if (max <= 0)
		return 0;
	if (!(s = store_stmt(st, sql_outbox_fetch)))
		return -1;
	sqlite3_bind_int(s, 1, after_prio);
	sqlite3_bind_int64(s, 2, after_id);
	sqlite3_bind_int(s, 3, max);
	sqlite3_bind_text(s, 4, link, -1, SQLITE_STATIC);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct outbox_row *r = &rows[n];
		const char *topic = (const char *)sqlite3_column_text(s, 2);
		const char *payload = (const char *)sqlite3_column_text(s, 3);

		r->id = sqlite3_column_int64(s, 0);
		r->prio = sqlite3_column_int(s, 1);
		r->qos = sqlite3_column_int(s, 4);
		r->retain = sqlite3_column_int(s, 5) != 0;
		r->created = sqlite3_column_int64(s, 6);
		r->topic = strdup(topic ? topic : "");
		r->payload = strdup(payload ? payload : "");
		n++;
		if (!r->topic || !r->payload) {
			log_error("store", "out of memory");
			oom = true;
			break;
		}
	}
	sqlite3_reset(s);
	if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
		if (!oom)
			store_fail(st, "read outbox");
		for (int i = 0; i < n; i++)
			store_outbox_row_free(&rows[i]);
		return -1;
	}
	return n;
}

int store_outbox_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s;

	if (store_batch(st) < 0 || !(s = store_stmt(st, sql_outbox_delete)))
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (store_run(st, s, "delete sent message") < 0)
		return -1;
	if (st->depth >= 0)
		st->depth -= sqlite3_changes(st->db);
	return 0;
}

int64_t store_outbox_depth(struct store *st)
{
	if (st->depth < 0 && store_int(st, sql_outbox_count, &st->depth) < 0) {
		st->depth = -1;
		return -1;
	}
	return st->depth;
}

int64_t store_outbox_link_depth(struct store *st, const char *link, int64_t *oldest)
{
	sqlite3_stmt *s = store_stmt(st, sql_outbox_link_count);
	int64_t n = -1;

	if (oldest)
		*oldest = 0;
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, link, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		n = sqlite3_column_int64(s, 0);
		if (oldest)
			*oldest = sqlite3_column_int64(s, 1);
	} else {
		store_fail(st, "count a link's queue");
	}
	sqlite3_reset(s);
	return n;
}

int64_t store_outbox_drop_others(struct store *st, const char *const *keep, size_t n)
{
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);
	sqlite3_stmt *s = NULL;
	int64_t dropped = -1;

	if (!f)
		return -1;
	fputs("DELETE FROM outbox WHERE link NOT IN (''", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, ", ?%zu", i + 1);
	fputs(")", f);
	fclose(f);
	if (store_batch(st) < 0 || sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		store_fail(st, "drop the queues of removed links");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		sqlite3_bind_text(s, (int)i + 1, keep[i], -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, "drop the queues of removed links");
		goto out;
	}
	dropped = sqlite3_changes(st->db);
	st->depth = -1;   /* counted again */
out:
	sqlite3_finalize(s);
	free(sql);
	return dropped;
}
