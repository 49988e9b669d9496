"""Alarms end to end: the real daemon, simulator and mosquitto broker; a
subscriber checks what the centre receives, field by field."""
import json
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


@yw.with_env("alarm-raise")
def test_raise_clear_and_retained_active(env):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=2)
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        d = env.daemon(path)
        st = mu.wait_online(sub)[-1][1]
        check(set(st) >= {"online", "version", "started", "ts", "outbox"}, "status fields %r" % st)
        mu.check_ts(st["started"], "started")
        eq(st["outbox"] if isinstance(st["outbox"], int) else None, st["outbox"], "outbox is an integer")
        # Device status appears once the first poll answered.
        sub.wait(lambda t, p: t == P + "/device/p1/status" and p.get("online") is True, 10,
                 "device status online")
        time.sleep(1.0)
        t_set = time.monotonic()
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        ev = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "raised"), 10, "raised event")[0]
        took = time.monotonic() - t_set
        check(took >= 2.0, "raised after delay_s=2 (took %.2fs)" % took)
        check(took <= 2.0 + 0.5 + 1.5, "raised within delay + poll (took %.2fs)" % took)
        mu.check_event(ev, alarm="p1-low", state="raised", severity="critical", category="fire",
                       point="p1.pressure", device="p1", location="Building 3 pump room",
                       value=0.05, unit="MPa", threshold=0.10, acked=False,
                       message="Fire water pressure low, building 3")
        eq(ev.get("clear"), 0.12, "clear")
        eq(ev["ts"], ev["raised_ts"], "raised_ts of a raise is its ts")
        topics = [t for (t, p) in sub.all(lambda t, p: t.startswith(P + "/alarm/"))]
        eq(topics[0], P + "/alarm/fire/p1-low", "topic")

        def active_has(n):
            msgs = sub.all(lambda t, p: t == P + "/alarms/active")
            return msgs and len(msgs[-1][1]["alarms"]) == n and msgs[-1][1]
        act = wait_for(lambda: active_has(1), 5, "alarms/active with the alarm")
        mu.check_ts(act["ts"], "alarms/active ts")
        eq(act["alarms"][0]["event_id"], ev["event_id"], "active alarm is the raised event")

        # A new subscriber sees it retained.
        late = yw.Sub(broker.port, [P + "/alarms/active"])
        try:
            m = late.wait(lambda t, p: True, 5, "retained alarms/active")
            eq(len(m[0][1]["alarms"]), 1, "retained active alarms")
        finally:
            late.close()

        env.sim_step(sim, {"set": {"p1.pressure": 0.11}})   # between threshold and clear: holds
        time.sleep(2)
        eq(len(mu.events(sub, lambda e: e["state"] == "cleared")), 0, "hysteresis: no clear at 0.11")
        env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
        cl = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "cleared"), 10, "cleared event")[0]
        mu.check_event(cl, alarm="p1-low", state="cleared", value=0.35, raised_ts=ev["raised_ts"])
        eq(cl["seq"], ev["seq"] + 1, "seq grows by one")
        wait_for(lambda: active_has(0) is not None and sub.all(
            lambda t, p: t == P + "/alarms/active")[-1][1]["alarms"] == [], 5, "alarms/active empty")

        # The CLI shows the same events.
        al = env.cli_json(path, "alarms")
        eq([a["event_id"] for a in al[:2]], [cl["event_id"], ev["event_id"]], "yardwatch alarms newest first")
        eq(env.cli_json(path, "alarms", "--active"), [], "no active alarms")
        eq(env.stop(d), 0, "daemon exit code")
        off = sub.wait(lambda t, p: t == P + "/status" and p.get("online") is False, 5, "shutdown status")
        eq(off[-1][1]["reason"], "shutdown", "clean stop reason")
    finally:
        sub.close()


@yw.with_env("alarm-outage")
def test_outage_three_alarms_in_order_before_telemetry(env):
    persist = env.dir + "/broker-db/"
    import os
    os.makedirs(persist)
    extra = "persistence true\npersistence_location %s\nqueue_qos0_messages true\nautosave_interval 1\n" % persist
    port = yw.free_port()
    conf = os.path.join(env.dir, "mosq.conf")
    with open(conf, "w") as f:
        f.write("%slistener %d 127.0.0.1\nallow_anonymous true\n%s" % (yw.ROOT_USER, port, extra))
    broker = env.spawn("mosquitto", [yw.MOSQUITTO, "-c", conf])
    yw.wait_port(port)
    more = [{"id": "p%d" % i, "bus": "lan", "unit": i, "profile": "pressure-transmitter",
             "poll_ms": 500, "category": "fire"} for i in (2, 3)]
    alarms = [{"id": "p%d-low" % i, "point": "p%d.pressure" % i, "when": "below", "threshold": 0.1,
               "delay_s": 0, "severity": "critical", "category": "fire"} for i in (1, 2, 3)]
    cfg, path, sim = mu.setup(env, port, alarms=alarms, extra_devices=more)
    # A persistent session: the broker keeps what arrives while we are away.
    import paho.mqtt.client as mqtt
    got = []
    c = mqtt.Client(client_id="yw-outage-sub", clean_session=False)
    c.on_connect = lambda c, u, f, rc: c.subscribe(P + "/#", 1)
    c.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    c.reconnect_delay_set(0.2, 1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        d = env.daemon(path)
        wait_for(lambda: any(t.startswith(P + "/telemetry/") for t, p in got), 15, "telemetry flowing")
        env.stop(broker)
        for i in (1, 2, 3):
            env.sim_step(sim, {"set": {"p%d.pressure" % i: 0.05}})
            wait_for(lambda: len(env.cli_json(path, "alarms")) >= i, 10, "alarm %d stored" % i)
        stored = list(reversed(env.cli_json(path, "alarms")))
        eq([e["alarm"] for e in stored], ["p1-low", "p2-low", "p3-low"], "stored order")
        time.sleep(1)
        mark = len(got)
        broker2 = env.spawn("mosquitto2", [yw.MOSQUITTO, "-c", conf])
        yw.wait_port(port)
        wait_for(lambda: sum(1 for t, p in got[mark:] if t.startswith(P + "/alarm/")) >= 3, 45,
                 "three alarm events after the outage")
        after = [(t, p) for t, p in got[mark:] if not t.endswith("/status") and "/alarms/active" not in t
                 and "/device/" not in t]
        kinds = [t.split("/")[3] for t, p in after]
        first_tel = kinds.index("telemetry") if "telemetry" in kinds else len(kinds)
        alarm_idx = [i for i, k in enumerate(kinds) if k == "alarm"]
        check(alarm_idx[:3] == [0, 1, 2], "the three events came first: %r" % kinds[:6])
        check(alarm_idx[2] < first_tel, "events before any telemetry: %r" % kinds[:6])
        evs = [json.loads(p) for t, p in after if t.split("/")[3] == "alarm"][:3]
        eq([e["event_id"] for e in evs], [e["event_id"] for e in stored], "same events, in order")
        wait_for(lambda: env.cli_json(path, "status")["outbox_depth"] == 0, 5, "outbox drained")
        eq(env.stop(d), 0, "daemon exit code")
        env.stop(broker2)
    finally:
        c.loop_stop()


@yw.with_env("alarm-crash")
def test_sigkill_while_broker_paused_event_survives(env):
    import os
    import signal
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=0)
    sub = yw.Sub(broker.port, [P + "/alarm/#"])
    try:
        d = env.daemon(path)
        st = yw.Sub(broker.port, [P + "/status"])
        mu.wait_online(st)
        st.close()
        os.kill(broker.pid, signal.SIGSTOP)
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        wait_for(lambda: "p1-low raised" in env.log("daemon"), 10, "the raise in the daemon's log")
        os.kill(d.pid, signal.SIGKILL)
        d.wait(5)
        # What the store holds is what the centre must get.
        stored = env.cli_json(path, "alarms")
        eq(len(stored), 1, "one event stored before the kill")
        eid = stored[0]["event_id"]
        os.kill(broker.pid, signal.SIGCONT)
        d2 = env.daemon(path, name="daemon2")
        got = sub.wait(lambda t, p: isinstance(p, dict) and p.get("event_id") == eid, 20,
                       "event %s after the restart" % eid)
        eq(got[0][1]["state"], "raised", "state")
        time.sleep(2)
        evs = [p for t, p in sub.all()]
        check(all(e["event_id"] == eid for e in evs), "no second raise after the restart: %r" %
              [e["event_id"] for e in evs])
        eq(len(env.cli_json(path, "alarms")), 1, "still one event in the store")
        wait_for(lambda: env.cli_json(path, "status")["outbox_depth"] == 0, 5, "outbox drained")
        eq(env.stop(d2), 0, "exit code")
    finally:
        sub.close()


@yw.with_env("alarm-will")
def test_last_will_and_online_again(env):
    import os
    import signal
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port)
    sub = yw.Sub(broker.port, [P + "/status"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        n = len(sub.all())
        os.kill(d.pid, signal.SIGKILL)
        d.wait(5)
        m = sub.wait(lambda t, p: p.get("online") is False, 15, "the Last Will")
        eq(m[-1][1], {"online": False, "reason": "lost"}, "will payload")
        d2 = env.daemon(path, name="daemon2")
        wait_for(lambda: [p for t, p in sub.all()[n:] if p.get("online") is True], 15, "online again")
        eq(env.stop(d2), 0, "exit code")
    finally:
        sub.close()


if __name__ == "__main__":
    import sys
    tests = [test_raise_clear_and_retained_active, test_outage_three_alarms_in_order_before_telemetry,
             test_sigkill_while_broker_paused_event_survives, test_last_will_and_online_again]
    yw.run([t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
