/*
 * Unit tests of the alarm state machine: a table of scripted cases. Each case
 * is an alarm config, a starting state (fresh or as loaded from the store)
 * and a script of steps (a reading at a monotonic time, an ack, the device
 * going offline / online), each with the events it must produce and whether
 * the alarm is active afterwards.
 */
#include "../../daemon/alarm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check.h"




#define WALL0 1764130203123LL

enum step_kind { S_END = 0, S_VAL, S_ACK, S_OFF, S_ON };

struct step {
	enum step_kind kind;
	int64_t t;              /* mono ms (wall = WALL0 + t) */
	double v;
	enum yw_quality q;
	int rc;                 /* expected return (events, or -1 for a refused ack) */
	enum alarm_event e0, e1;
	bool active;            /* expected afterwards */
};

/* good reading, no event */
#define G(t, v, act) { S_VAL, t, v, Q_GOOD, 0, ALARM_EV_NONE, ALARM_EV_NONE, act }
/* good reading with one event */
#define GE(t, v, e, act) { S_VAL, t, v, Q_GOOD, 1, ALARM_EV_##e, ALARM_EV_NONE, act }
/* reading of quality q: never an event */
#define Q(t, v, q, act) { S_VAL, t, v, q, 0, ALARM_EV_NONE, ALARM_EV_NONE, act }
#define ACK_REFUSED(act) { S_ACK, 0, 0, Q_GOOD, -1, ALARM_EV_NONE, ALARM_EV_NONE, act }
#define ACK1(act) { S_ACK, 0, 0, Q_GOOD, 1, ALARM_EV_ACKED, ALARM_EV_NONE, act }
#define ACK2(act) { S_ACK, 0, 0, Q_GOOD, 2, ALARM_EV_ACKED, ALARM_EV_CLEARED, act }
#define OFF(t, e, act) { S_OFF, t, 0, Q_GOOD, 0, ALARM_EV_##e, ALARM_EV_NONE, act }
#define ON(t, e, act) { S_ON, t, 0, Q_GOOD, 0, ALARM_EV_##e, ALARM_EV_NONE, act }

struct tcase {
	const char *name;
	struct alarm_cfg cfg;
	bool persisted;         /* start from INIT instead of a fresh state */
	struct alarm_state init;
	struct step steps[20];
};

#define ABOVE(thr, clr, d, cd, l) { .when = WHEN_ABOVE, .threshold = thr, .clear = clr, \
	.has_clear = true, .delay_s = d, .clear_delay_s = cd, .latch = l }
#define BELOW(thr, clr, d, cd, l) { .when = WHEN_BELOW, .threshold = thr, .clear = clr, \
	.has_clear = true, .delay_s = d, .clear_delay_s = cd, .latch = l }
#define PERSISTED_ACTIVE { .active = true, .acked = false, .cond = true, \
	.pending_since = -1, .raised_ts = 111, .value = 11 }

static const struct tcase cases[] = {
	{ "above: hysteresis does not chatter", ABOVE(10, 8, 0, 0, false), false, { 0 }, {
		G(0, 5, false),
		G(500, 10, false),            /* not > 10 */
		GE(1000, 10.5, RAISED, true),
		G(2000, 9, true),             /* band: stays */
		G(3000, 10.5, true),          /* no second raise */
		G(4000, 9.5, true),
		G(4500, 8.01, true),
		GE(5000, 8, CLEARED, false),  /* <= clear */
		G(6000, 9, false),            /* band: no raise */
		G(7000, 10, false),
		G(7500, 8.5, false),
		GE(8000, 10.01, RAISED, true),
		G(9000, 9.99, true),
		GE(10000, -3, CLEARED, false),
	} },
	{ "above: clear defaults to threshold",
	  { .when = WHEN_ABOVE, .threshold = 10, .clear = 10 }, false, { 0 }, {
		GE(0, 11, RAISED, true),
		G(1000, 10.001, true),
		GE(2000, 10, CLEARED, false),
		G(3000, 10, false),
		GE(4000, 10.5, RAISED, true),
	} },
	{ "above: clear on the wrong side is taken as the threshold", ABOVE(10, 12, 0, 0, false),
	  false, { 0 }, {
		GE(0, 11, RAISED, true),
		G(1000, 11, true),            /* would chatter with clear 12 */
		GE(2000, 10, CLEARED, false),
	} },
	{ "below: strict raise, clear at >= clear", BELOW(5, 5, 0, 0, false), false, { 0 }, {
		G(0, 5, false),
		GE(1000, 4.99, RAISED, true),
		GE(2000, 5, CLEARED, false),
	} },
	{ "below: SPEC example with delays", BELOW(0.10, 0.12, 10, 5, false), false, { 0 }, {
		G(0, 0.11, false),
		G(1000, 0.08, false),         /* pending raise from 1000 */
		G(6000, 0.08, false),
		G(10999, 0.09, false),
		GE(11000, 0.08, RAISED, true),
		G(12000, 0.11, true),         /* band */
		G(13000, 0.12, true),         /* pending clear from 13000 */
		G(17999, 0.13, true),
		GE(18000, 0.13, CLEARED, false),
		G(19000, 0.05, false),        /* pending raise again */
	} },
	{ "raise delay: condition broken before the delay", ABOVE(10, 8, 10, 0, false), false,
	  { 0 }, {
		G(0, 11, false),
		G(5000, 9, false),            /* band breaks "value > threshold" */
		G(6000, 11, false),           /* starts again */
		G(15000, 11, false),          /* 9 s */
		GE(16000, 11, RAISED, true),
		G(17000, 9, true),
		G(18000, 11, true),
		GE(19000, 8, CLEARED, false),
		G(20000, 11, false),
		G(25000, 2, false),           /* below clear: also breaks it */
		G(29999, 11, false),
		G(39998, 11, false),
		GE(39999, 11, RAISED, true),
	} },
	{ "clear delay: broken before the delay", ABOVE(10, 8, 0, 5, false), false, { 0 }, {
		GE(0, 11, RAISED, true),
		G(1000, 7, true),             /* pending clear */
		G(3000, 9, true),             /* band cancels it */
		G(4000, 7, true),
		G(8000, 7, true),             /* 4 s */
		GE(9000, 7, CLEARED, false),
	} },
	{ "bad quality neither raises nor clears and resets the raise delay",
	  ABOVE(10, 8, 10, 0, false), false, { 0 }, {
		G(0, 11, false),
		Q(5000, 11, Q_BAD, false),
		G(6000, 11, false),           /* restarts */
		Q(12000, 50, Q_STALE, false),
		Q(16000, 50, Q_BAD, false),   /* 10 s after 6000, but a bad one */
		G(17000, 11, false),          /* restarts at 17000 */
		G(26000, 11, false),
		GE(27000, 11, RAISED, true),
		Q(28000, 0, Q_BAD, true),
		Q(29000, 0, Q_STALE, true),
		Q(30000, NAN, Q_GOOD, true),  /* NaN counts as bad */
		GE(31000, 0, CLEARED, false),
		Q(32000, 99, Q_STALE, false),
	} },
	{ "stale quality resets the clear delay", ABOVE(10, 8, 0, 5, false), false, { 0 }, {
		GE(0, 11, RAISED, true),
		G(1000, 5, true),
		Q(2000, 5, Q_STALE, true),
		G(3000, 5, true),
		Q(6500, NAN, Q_GOOD, true),
		G(7000, 5, true),
		G(11000, 5, true),
		GE(12000, 5, CLEARED, false),
	} },
	{ "outage: the stale readings of an offline device restart both delays",
	  BELOW(0.10, 0.12, 3, 2, false), false, { 0 }, {
		G(0, 0.05, false),            /* pending raise from 0 */
		G(1000, 0.05, false),
		Q(2000, 0, Q_STALE, false),   /* the device went offline */
		G(7000, 0.05, false),         /* back: 7 s after 0, but restarts */
		G(9000, 0.05, false),
		GE(10000, 0.05, RAISED, true),/* 3 s after it came back */
		G(11000, 0.20, true),         /* pending clear from 11000 */
		Q(12000, 0, Q_STALE, true),   /* offline again */
		G(20000, 0.20, true),         /* restarts */
		G(21000, 0.20, true),
		GE(22000, 0.20, CLEARED, false),
	} },
	{ "latch: ack after the condition cleared", ABOVE(10, 8, 0, 0, true), false, { 0 }, {
		ACK_REFUSED(false),
		GE(0, 11, RAISED, true),
		G(1000, 5, true),             /* condition clear, still active */
		G(2000, 5, true),
		ACK2(false),
		G(3000, 5, false),
		ACK_REFUSED(false),
		GE(4000, 11, RAISED, true),
	} },
	{ "latch: ack while the condition holds", ABOVE(10, 8, 0, 2, true), false, { 0 }, {
		GE(0, 11, RAISED, true),
		ACK1(true),
		G(1000, 12, true),
		G(2000, 5, true),
		GE(4000, 5, CLEARED, false),
		G(5000, 5, false),
	} },
	{ "latch: condition clears and returns before the ack", ABOVE(10, 8, 1, 0, true), false,
	  { 0 }, {
		G(0, 11, false),
		GE(1000, 11, RAISED, true),
		G(2000, 5, true),
		G(3000, 11, true),
		G(4000, 11, true),            /* holds again: no second raise */
		ACK1(true),
		G(5000, 12, true),
		GE(6000, 5, CLEARED, false),
	} },
	{ "non-latched: ack, then clear; double ack", ABOVE(10, 8, 0, 0, false), false, { 0 }, {
		ACK_REFUSED(false),
		GE(0, 11, RAISED, true),
		ACK1(true),
		ACK1(true),                   /* accepted again */
		G(1000, 12, true),
		GE(2000, 5, CLEARED, false),
		ACK_REFUSED(false),
		GE(3000, 11, RAISED, true),   /* a new raise is unacked */
		GE(4000, 5, CLEARED, false),
	} },
	{ "equals", { .when = WHEN_EQUALS, .threshold = 1, .clear = 1 }, false, { 0 }, {
		G(0, 0, false),
		G(500, 1.001, false),
		GE(1000, 1, RAISED, true),
		G(2000, 1 + 1e-12, true),
		GE(3000, 0, CLEARED, false),
		GE(4000, 1.0000000001, RAISED, true),
		GE(5000, 2, CLEARED, false),
	} },
	{ "equals zero, large value", { .when = WHEN_EQUALS, .threshold = 0, .clear = 0 }, false,
	  { 0 }, {
		GE(0, 1e-12, RAISED, true),
		GE(1000, 1e-6, CLEARED, false),
		GE(2000, -0.0, RAISED, true),
	} },
	{ "not_equals with delay", { .when = WHEN_NOT_EQUALS, .threshold = 3, .clear = 3,
	  .delay_s = 2 }, false, { 0 }, {
		G(0, 3, false),
		G(1000, 4, false),
		G(2000, 3 + 1e-12, false),    /* equal again: cancels */
		G(3000, 0, false),
		G(4000, 0, false),
		GE(5000, 5, RAISED, true),
		G(6000, 7, true),
		GE(7000, 3, CLEARED, false),
	} },
	{ "restart: persisted active, condition now clear", ABOVE(10, 8, 0, 5, false), true,
	  PERSISTED_ACTIVE, {
		G(0, 5, true),
		G(4999, 5, true),
		GE(5000, 5, CLEARED, false),
		G(6000, 9, false),
	} },
	{ "restart: persisted active, condition still holds", ABOVE(10, 8, 10, 0, false), true,
	  PERSISTED_ACTIVE, {
		G(0, 12, true),
		G(10000, 12, true),
		G(30000, 9, true),
		ACK1(true),
		GE(31000, 1, CLEARED, false),
	} },
	{ "restart: persisted latched, condition now clear", ABOVE(10, 8, 0, 0, true), true,
	  PERSISTED_ACTIVE, {
		G(0, 5, true),
		G(1000, 5, true),
		ACK2(false),
	} },
	{ "restart: persisted without cond (non-latched)", ABOVE(10, 8, 0, 0, false), true,
	  { .active = true, .pending_since = -1, .raised_ts = 111 }, {
		G(0, 12, true),
		GE(1000, 3, CLEARED, false),
	} },
	{ "restart: pending time from another boot", ABOVE(10, 8, 0, 5, false), true,
	  { .active = true, .cond = true, .pending_since = 1000000000000LL, .raised_ts = 111 }, {
		G(0, 5, true),
		G(4000, 5, true),
		GE(5000, 5, CLEARED, false),
	} },
	{ "offline alarm", { .latch = false }, false, { 0 }, {
		ON(0, NONE, false),
		ACK_REFUSED(false),
		OFF(1000, RAISED, true),
		OFF(2000, NONE, true),
		ACK1(true),
		ON(3000, CLEARED, false),
		ON(4000, NONE, false),
		ACK_REFUSED(false),
		OFF(5000, RAISED, true),
		ON(6000, CLEARED, false),
	} },
	{ "offline alarm persisted active", { .latch = false }, true, PERSISTED_ACTIVE, {
		OFF(0, NONE, true),
		ON(1000, CLEARED, false),
	} },
};

static void run_case(const struct tcase *c)
{
	struct alarm_state s;
	enum alarm_event ev[2];
	int64_t raised_ts;
	const struct step *st;
	int rc;

	check_case = c->name;
	if (c->persisted)
		s = c->init;
	else
		alarm_state_init(&s);
	raised_ts = s.raised_ts;

	for (st = c->steps; st->kind != S_END; st++) {
		ev[0] = ev[1] = ALARM_EV_NONE;
		switch (st->kind) {
		case S_VAL:
			rc = alarm_eval(&c->cfg, &s, st->v, st->q, st->t, WALL0 + st->t, ev);
			break;
		case S_ACK:
			rc = alarm_ack(c->cfg.latch, &s, ev);
			break;
		case S_OFF:
		case S_ON:
			ev[0] = alarm_offline(&s, st->kind == S_OFF, WALL0 + st->t);
			rc = 0;
			break;
		case S_END:
		default:
			rc = -2;
			break;
		}
		if (rc != st->rc || ev[0] != st->e0 || ev[1] != st->e1 || s.active != st->active) {
			failed++;
			fprintf(stderr, "%s: step %d (t=%lld v=%g): got rc %d events %s,%s active %d; "
				"want rc %d events %s,%s active %d\n", c->name,
				(int)(st - c->steps), (long long)st->t, st->v, rc,
				alarm_event_name(ev[0]), alarm_event_name(ev[1]), s.active, st->rc,
				alarm_event_name(st->e0), alarm_event_name(st->e1), st->active);
		} else {
			passed++;
		}
		if (ev[0] == ALARM_EV_RAISED) {
			raised_ts = WALL0 + st->t;
			CHECK(!s.acked);
			if (st->kind == S_VAL)
				CHECK(s.value == st->v);
		}
		/* raised_ts is the time of the raise, through acks and the clear */
		CHECK(s.raised_ts == raised_ts);
		if (ev[0] == ALARM_EV_ACKED)
			CHECK(s.acked);
		if (ev[0] == ALARM_EV_CLEARED && st->kind == S_VAL)
			CHECK(s.value == st->v);
		if (!s.active)
			CHECK(!s.cond);
	}
}

static void test_misc(void)
{
	struct alarm_state s;
	struct alarm_cfg a = { .when = WHEN_ABOVE, .threshold = 1, .clear = 1 };
	enum alarm_event ev[2] = { ALARM_EV_ACKED, ALARM_EV_ACKED };

	check_case = "misc";
	CHECK(strcmp(alarm_event_name(ALARM_EV_RAISED), "raised") == 0);
	CHECK(strcmp(alarm_event_name(ALARM_EV_CLEARED), "cleared") == 0);
	CHECK(strcmp(alarm_event_name(ALARM_EV_ACKED), "acked") == 0);
	CHECK(strcmp(alarm_event_name(ALARM_EV_NONE), "none") == 0);

	memset(&s, 0x5a, sizeof s);
	alarm_state_init(&s);
	CHECK(!s.active && !s.acked && !s.cond && s.pending_since == -1 && s.raised_ts == 0);

	/* the unused slots of EV are always NONE */
	CHECK(alarm_eval(&a, &s, 0, Q_GOOD, 0, WALL0, ev) == 0);
	CHECK(ev[0] == ALARM_EV_NONE && ev[1] == ALARM_EV_NONE);
	ev[1] = ALARM_EV_ACKED;
	CHECK(alarm_eval(&a, &s, 2, Q_GOOD, 1, WALL0 + 1, ev) == 1);
	CHECK(ev[0] == ALARM_EV_RAISED && ev[1] == ALARM_EV_NONE);
	ev[1] = ALARM_EV_ACKED;
	CHECK(alarm_ack(false, &s, ev) == 1);
	CHECK(ev[1] == ALARM_EV_NONE);
}

/* The offline alarm's message follows its event: while the alarm is active
 * (raised, acked) the device does not answer; a cleared event never says so. */
static void test_offline_message(void)
{
	static const struct {
		enum alarm_event ev;
		const char *want;
	} msgs[] = {
		{ ALARM_EV_RAISED, "Device b3-meter is not answering" },
		{ ALARM_EV_ACKED, "Device b3-meter is not answering" },
		{ ALARM_EV_CLEARED, "Device b3-meter answers again" },
	};
	char buf[64], tiny[12];

	check_case = "offline message";
	for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		alarm_offline_message(msgs[i].ev, "b3-meter", buf, sizeof buf);
		CHECK(strcmp(buf, msgs[i].want) == 0);
	}
	CHECK(strstr(alarm_offline_message(ALARM_EV_CLEARED, "b3-meter", buf, sizeof buf),
		     "not answering") == NULL);
	/* bounded by the buffer */
	CHECK(strcmp(alarm_offline_message(ALARM_EV_CLEARED, "b3-meter", tiny, sizeof tiny),
		     "Device b3-m") == 0);
}

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
	test_misc();
	test_offline_message();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
