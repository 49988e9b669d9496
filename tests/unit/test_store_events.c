/*
 * test_store_events: the durable commit of an alarm event (event row, alarm
 * state, outbox row and last_seq in one transaction, none of them on
 * failure), the event sequence across restarts, alarm state loading, and
 * the outbox: order by (prio, id), the cursor, deletion and depth; one
 * queue per link: an event queued for each link that takes it, in its one
 * transaction, each link's rows fetched, counted and dropped apart.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store_fixture.h"

/* ---- events and alarm state ------------------------------------------------ */

static void test_events(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX], buf[1024];
	struct store *st;
	struct alarm_state s;
	char *last = NULL;
	sqlite3 *db;
	int64_t now = util_wall_ms();

	path_of(path, sizeof path, "events.db");
	st = open_cfg(path, cfg);
	CHECK(store_next_seq(st) == 1);
	CHECK(store_next_seq(st) == 1);   /* not reserved until committed */

	/* Unknown alarm: 0 and a fresh state. */
	s.active = true;
	s.pending_since = 5;
	CHECK(store_alarm_load(st, "b3-fire-pressure-low", &s, &last) == 0);
	CHECK(!s.active && !s.acked && !s.cond && s.pending_since == -1 && s.raised_ts == 0);
	CHECK(last == NULL);

	/* An open batch is committed by the event's transaction. */
	CHECK(store_put_reading(st, 0, 0, now, 0.08, Q_GOOD) == 1);
	CHECK(commit_ev(st, 1, "b3-fire-pressure-low", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL,
			now, true) == 0);
	db = peek_open(path);
	CHECK(q_int(db, "SELECT count(*) FROM readings_all") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM events WHERE seq = 1 AND alarm = 'b3-fire-pressure-low' "
		    "AND state = 'raised' AND category = 'fire' AND severity = 'critical' "
		    "AND ts = %lld", (long long)now) == 1);
	CHECK(strcmp(q_text(db, buf, sizeof buf, "SELECT json_extract(json, '$.event_id') FROM events"),
		     "gw1-1") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM alarm_state WHERE alarm = 'b3-fire-pressure-low' "
		    "AND active = 1 AND raised_ts = %lld AND last_event = "
		    "(SELECT json FROM events WHERE seq = 1)", (long long)now) == 1);
	CHECK(q_int(db, "SELECT count(*) FROM outbox WHERE prio = 0 AND qos = 1 AND retain = 0 "
		    "AND topic = 'yardwatch/mangshi-hs07/gw1/alarm/fire/b3-fire-pressure-low' "
		    "AND payload = (SELECT json FROM events WHERE seq = 1)") == 1);
	CHECK(store_next_seq(st) == 2);
	CHECK(store_outbox_depth(st) == 1);

	CHECK(store_alarm_load(st, "b3-fire-pressure-low", &s, &last) == 1);
	CHECK(s.active && !s.acked && s.cond && s.raised_ts == now && fabs(s.value - 0.08) < 1e-12 &&
	      s.pending_since == -1);
	CHECK(last && strstr(last, "\"seq\":1,") != NULL);
	free(last);
	last = NULL;
	CHECK(store_alarm_load(st, "b3-fire-pressure-low", &s, NULL) == 1);

	/* A failing event (duplicate seq) writes nothing at all. */
	fprintf(stderr, "(an error about a UNIQUE constraint is expected)\n");
	CHECK(commit_ev(st, 1, "other-alarm", ALARM_EV_RAISED, CAT_GAS, SEV_MAJOR, now, true) == -1);
	CHECK(q_int(db, "SELECT count(*) FROM alarm_state WHERE alarm = 'other-alarm'") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == 1);
	CHECK(store_outbox_depth(st) == 1);
	/* The store keeps working after it; synchronous is back to NORMAL (1). */
	CHECK(commit_ev(st, 2, "b3-fire-pressure-low", ALARM_EV_CLEARED, CAT_FIRE, SEV_CRITICAL,
			now + 1000, false) == 0);
	CHECK(store_next_seq(st) == 3);
	CHECK(q_int(db, "SELECT active FROM alarm_state WHERE alarm = 'b3-fire-pressure-low'") == 0);

	/* Without MQTT (no topic): event and state, no outbox row. */
	struct alarm_state s2 = { .active = true, .cond = true, .pending_since = -1,
				  .raised_ts = now + 1500, .value = NAN };
	CHECK(store_commit_event(st, 3, "b3-meter.offline", ALARM_EV_RAISED, CAT_SYSTEM, SEV_MAJOR,
				 now + 1500, "{\"seq\":3}", &s2, NULL, 0) == 0);
	CHECK(q_int(db, "SELECT count(*) FROM events WHERE seq = 3") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM outbox") == 2);
	CHECK(store_outbox_depth(st) == 2);
	CHECK(store_alarm_load(st, "b3-meter.offline", &s, NULL) == 1 && s.active &&
	      isnan(s.value));
	exec_sql(db, "DELETE FROM events WHERE seq = 3");
	exec_sql(db, "DELETE FROM alarm_state WHERE alarm = 'b3-meter.offline'");
	exec_sql(db, "UPDATE meta SET value = 2 WHERE key = 'last_seq'");
	store_close(st);

	/* seq survives a restart ... */
	st = open_cfg(path, cfg);
	CHECK(store_next_seq(st) == 3);
	CHECK(commit_ev(st, 3, "x", ALARM_EV_RAISED, CAT_GAS, SEV_MAJOR, now + 2000, true) == 0);
	store_close(st);
	/* ... and never goes back, even if the event log were pruned. */
	exec_sql(db, "DELETE FROM events");
	st = open_cfg(path, cfg);
	CHECK(store_next_seq(st) == 4);
	store_close(st);
	sqlite3_close(db);
	cfg_free(cfg);
}

/* ---- outbox --------------------------------------------------------------- */

static void test_outbox(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	struct outbox_row rows[8];
	int64_t now = util_wall_ms(), id_alarm;
	int n;

	path_of(path, sizeof path, "outbox.db");
	st = open_cfg(path, cfg);
	CHECK(store_outbox_depth(st) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/a/status", "{\"a\":1}", 1, true) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/b/status", "{\"b\":1}", 0, false) == 0);
	CHECK(commit_ev(st, 1, "fire", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL, now, true) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/c/status", "{\"c\":1}", 1, true) == 0);
	CHECK(store_outbox_depth(st) == 4);

	/* (prio, id) order: the alarm first although it came later. */
	n = store_outbox_fetch(st, "mqtt", -1, 0, rows, 8);
	CHECK(n == 4);
	if (n == 4) {
		CHECK(rows[0].prio == 0 && rows[0].qos == 1 && !rows[0].retain &&
		      strstr(rows[0].topic, "/alarm/fire/fire") != NULL);
		CHECK(rows[1].prio == 1 && strcmp(rows[1].topic, "p/device/a/status") == 0 &&
		      strcmp(rows[1].payload, "{\"a\":1}") == 0 && rows[1].retain && rows[1].qos == 1);
		CHECK(strcmp(rows[2].topic, "p/device/b/status") == 0 && !rows[2].retain &&
		      rows[2].qos == 0);
		CHECK(strcmp(rows[3].topic, "p/device/c/status") == 0);
		CHECK(rows[1].id < rows[2].id && rows[2].id < rows[3].id);
	}
	id_alarm = n > 0 ? rows[0].id : 0;
	int64_t id_a = n > 1 ? rows[1].id : 0, id_b = n > 2 ? rows[2].id : 0;
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);

	/* Cursor: strictly after (prio, id); MAX bounds the count. */
	n = store_outbox_fetch(st, "mqtt", 0, id_alarm, rows, 8);
	CHECK(n == 3 && strcmp(rows[0].topic, "p/device/a/status") == 0);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	n = store_outbox_fetch(st, "mqtt", 1, id_a, rows, 1);
	CHECK(n == 1 && strcmp(rows[0].topic, "p/device/b/status") == 0);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	n = store_outbox_fetch(st, "mqtt", 1, INT64_MAX, rows, 8);
	CHECK(n == 0);
	CHECK(store_outbox_fetch(st, "mqtt", -1, 0, rows, 0) == 0);

	/* A new alarm is found by a fresh fetch from the start. */
	CHECK(commit_ev(st, 2, "fire2", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL, now, true) == 0);
	n = store_outbox_fetch(st, "mqtt", 0, id_alarm, rows, 8);
	CHECK(n == 4 && rows[0].prio == 0 && strstr(rows[0].topic, "fire2") != NULL);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);

	/* Delete and depth. */
	CHECK(store_outbox_depth(st) == 5);
	CHECK(store_outbox_delete(st, id_alarm) == 0);
	CHECK(store_outbox_delete(st, id_b) == 0);
	CHECK(store_outbox_delete(st, id_b) == 0);    /* twice: no harm */
	CHECK(store_outbox_depth(st) == 3);
	n = store_outbox_fetch(st, "mqtt", -1, 0, rows, 8);
	CHECK(n == 3 && strstr(rows[0].topic, "fire2") != NULL &&
	      strcmp(rows[1].topic, "p/device/a/status") == 0 &&
	      strcmp(rows[2].topic, "p/device/c/status") == 0);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	store_close(st);

	/* Depth is counted again after a restart; deleted ids are never reused. */
	st = open_cfg(path, cfg);
	CHECK(store_outbox_depth(st) == 3);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/d", "{}", 1, true) == 0);
	n = store_outbox_fetch(st, "mqtt", -1, 0, rows, 8);
	CHECK(n == 4 && rows[3].id > id_b);
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	store_close(st);
	cfg_free(cfg);
}

/* A retained status supersedes the queued ones of its topic, but not one in
 * flight (its PUBACK deletes it), and never an alarm event. */
static void test_supersede(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	struct outbox_row rows[8];
	int64_t now = util_wall_ms();
	int n;

	path_of(path, sizeof path, "supersede.db");
	st = open_cfg(path, cfg);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/a/status", "{\"a\":1}", 1, true) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/a/status", "{\"a\":2}", 1, true) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "p/device/b/status", "{\"b\":1}", 1, true) == 0);
	CHECK(commit_ev(st, 1, "fire", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL, now, true) == 0);
	n = store_outbox_fetch(st, "mqtt", -1, 0, rows, 8);
	CHECK(n == 4);
	int64_t first_a = n == 4 ? rows[1].id : 0;   /* {"a":1}: in flight */
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	CHECK(store_outbox_supersede(st, "mqtt", PRIO_STATUS, "p/device/a/status", "{\"a\":3}", 1,
				     &first_a, 1) == 0);
	CHECK(store_outbox_depth(st) == 4);          /* a:2 went, a:3 came */
	CHECK(store_outbox_supersede(st, "mqtt", PRIO_ALARM, "p/alarm/fire/fire", "{}", 1, NULL, 0) == -1);
	n = store_outbox_fetch(st, "mqtt", -1, 0, rows, 8);
	CHECK(n == 4 && rows[0].prio == PRIO_ALARM);
	if (n == 4) {
		CHECK(rows[1].id == first_a && strcmp(rows[1].payload, "{\"a\":1}") == 0);
		CHECK(strcmp(rows[2].payload, "{\"b\":1}") == 0);
		CHECK(strcmp(rows[3].payload, "{\"a\":3}") == 0 && rows[3].retain);
	}
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	store_close(st);
	cfg_free(cfg);
}

static void test_links(void)
{
	struct config *cfg = cfg_new(true);
	char path[PATH_MAX];
	struct store *st;
	struct outbox_row rows[8];
	struct alarm_state s = { .active = true, .cond = true, .pending_since = -1, .value = NAN };
	int64_t now = util_wall_ms(), oldest = -1;
	const struct store_dest two[] = { { "mqtt", "a/alarm/fire/x" },
					  { "water", "b/alarm/fire/x" } };
	int n;

	path_of(path, sizeof path, "links.db");
	st = open_cfg(path, cfg);
	s.raised_ts = now;
	CHECK(store_commit_event(st, 1, "x", ALARM_EV_RAISED, CAT_FIRE, SEV_CRITICAL, now,
				 "{\"seq\":1}", &s, two, 2) == 0);
	CHECK(store_commit_event(st, 2, "x", ALARM_EV_ACKED, CAT_FIRE, SEV_CRITICAL, now + 1,
				 "{\"seq\":2}", &s, two + 1, 1) == 0);
	CHECK(store_outbox_add(st, "mqtt", PRIO_STATUS, "a/device/d/status", "{}", 1, true) == 0);
	CHECK(store_outbox_supersede(st, "water", PRIO_STATUS, "b/device/d/status", "{\"w\":1}", 1,
				     NULL, 0) == 0);
	/* the same topic on another link is not superseded */
	CHECK(store_outbox_supersede(st, "mqtt", PRIO_STATUS, "b/device/d/status", "{\"m\":1}", 1,
				     NULL, 0) == 0);
	CHECK(store_outbox_depth(st) == 6);
	CHECK(store_outbox_link_depth(st, "mqtt", &oldest) == 3 && oldest > 0);
	CHECK(store_outbox_link_depth(st, "water", NULL) == 3);
	CHECK(store_outbox_link_depth(st, "power", &oldest) == 0 && oldest == 0);
	n = store_outbox_fetch(st, "water", -1, 0, rows, 8);
	CHECK(n == 3);
	if (n == 3) {
		CHECK(strcmp(rows[0].topic, "b/alarm/fire/x") == 0 && rows[0].prio == PRIO_ALARM);
		CHECK(strcmp(rows[1].payload, "{\"seq\":2}") == 0);
		CHECK(strcmp(rows[2].payload, "{\"w\":1}") == 0 && rows[2].created >= now);
		CHECK(store_outbox_delete(st, rows[0].id) == 0);
	}
	for (int i = 0; i < n; i++)
		store_outbox_row_free(&rows[i]);
	CHECK(store_outbox_link_depth(st, "water", NULL) == 2);
	CHECK(store_outbox_link_depth(st, "mqtt", NULL) == 3);
	/* a link removed: its queue goes, the others stay */
	const char *keep[] = { "mqtt" };
	CHECK(store_outbox_drop_others(st, keep, 1) == 2);
	CHECK(store_flush(st) == 0);
	CHECK(store_outbox_depth(st) == 3);
	CHECK(store_outbox_drop_others(st, keep, 1) == 0);
	store_close(st);
	cfg_free(cfg);
}

int main(void)
{
	fx_init("store-events");
	test_events();
	test_outbox();
	test_supersede();
	test_links();
	fx_done();
	return check_report();
}
