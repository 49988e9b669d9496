"""Uplinks: several MQTT links, each with its own broker, topic prefix,
selection, commands and durable queue. Each link receives exactly what it
selects (alarm events, device status, telemetry, alarms/active) and nothing
else; a command a link may not send changes nothing; one link's broker
stopped and another's frozen (SIGSTOP) never delay the healthy link's alarms,
and when they come back every queued event arrives once per link, in seq
order, alarm events before status, also across a SIGKILL of the daemon;
a reload adds, removes and keeps links."""
import os
import signal
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for

SITE = "test-site/gw1"


def devices():
    return [
        {"id": "p1", "bus": "lan", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 300,
         "category": "fire"},
        {"id": "m1", "bus": "lan", "unit": 2, "profile": "chint-dtsu666", "poll_ms": 300,
         "category": "power", "offline_after": 2},
        {"id": "r1", "bus": "lan", "unit": 3, "profile": "relay-8ch", "poll_ms": 300,
         "category": "lighting"},
    ]


ALARMS = [{"id": "p1-low", "point": "p1.pressure", "when": "below", "threshold": 0.10,
           "clear": 0.12, "delay_s": 0, "severity": "critical", "category": "fire"}]


def link(lid, port, prefix, **kw):
    d = {"id": lid, "brokers": ["mqtt://127.0.0.1:%d" % port], "topic_prefix": prefix,
         "keepalive_s": 5, "telemetry": {"interval_s": 1}}
    d.update(kw)
    return d


def setup(env, ports, uplinks):
    sim_port = yw.free_port()
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim_port, "timeout_ms": 300}]
    cfg = yw.base_config(env, devices(), buses, mqtt_port=ports[0], alarms=ALARMS,
                         uplinks=uplinks)
    cfg["mqtt"]["telemetry"] = {"interval_s": 1}
    path = env.write_config(cfg)
    sim = env.sim(path, port=sim_port)
    env.sim_step(sim, {"set": {"p1.pressure": 0.35, "r1.relay1": False}})
    return cfg, path, sim


def topics(sub, prefix):
    return {t[len(prefix) + len(SITE) + 2:] for (t, p) in sub.all() if t.startswith(prefix + "/")}


def events(sub):
    return [p for (t, p) in sub.all(lambda t, p: "/alarm/" in t and isinstance(p, dict))]


@yw.with_env("uplinks-select")
def test_each_link_gets_its_share(env):
    b0, b1, b2 = env.broker(), env.broker(), env.broker()
    ups = [link("water", b1.port, "water", select={"categories": ["water"], "devices": ["p1"]}),
           link("fire", b2.port, "fire119", select={"categories": ["fire"]}, commands=["ack"])]
    cfg, path, sim = setup(env, [b0.port], ups)
    simport = cfg["buses"][0]["port"]
    s0, s1, s2 = (yw.Sub(b.port, ["#"]) for b in (b0, b1, b2))
    try:
        env.daemon(path)
        for s, pre in ((s0, "yardwatch"), (s1, "water"), (s2, "fire119")):
            s.wait(lambda t, p, pre=pre: t == "%s/%s/status" % (pre, SITE) and
                   isinstance(p, dict) and p.get("online"), 15, "%s status online" % pre)
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        env.sim_step(sim, {"offline": "m1"})
        wait_for(lambda: [e for e in events(s0) if e["alarm"] == "m1.offline"], 15, "m1 offline")
        wait_for(lambda: events(s1) and events(s2), 10, "p1-low on water and fire")
        time.sleep(2.5)   # telemetry and status of every device have gone out
        t0, t1, t2 = topics(s0, "yardwatch"), topics(s1, "water"), topics(s2, "fire119")
        # the centre: everything
        for t in ("alarm/fire/p1-low", "alarm/power/m1.offline", "telemetry/p1", "telemetry/m1",
                  "telemetry/r1", "device/m1/status", "alarms/active", "status"):
            check(t in t0, "mqtt gets %s: %s" % (t, sorted(t0)))
        # the water utility: p1 (by device), nothing of m1 or r1
        check({"alarm/fire/p1-low", "telemetry/p1", "status", "alarms/active"} <= t1,
              "water gets p1's: %s" % sorted(t1))
        check(not [t for t in t1 if "m1" in t or "r1" in t], "water gets nothing else: %s"
              % sorted(t1))
        # the fire centre: the fire category
        check({"alarm/fire/p1-low", "telemetry/p1", "status"} <= t2, "fire: %s" % sorted(t2))
        check(not [t for t in t2 if "m1" in t or "r1" in t], "fire gets nothing else: %s"
              % sorted(t2))
        # alarms/active of each link holds only what it selects
        act1 = s1.all(lambda t, p: t.endswith("/alarms/active"))[-1][1]
        eq([a["alarm"] for a in act1["alarms"]], ["p1-low"], "water's alarms/active")
        act0 = wait_for(lambda: [p for (t, p) in s0.all(lambda t, p: t.endswith("/alarms/active"))
                                 if len(p["alarms"]) == 2], 10, "mqtt's alarms/active")[-1]
        eq(sorted(a["alarm"] for a in act0["alarms"]), ["m1.offline", "p1-low"], "all active")
        # the same event, the same seq, on every link that takes it
        e0 = [e for e in events(s0) if e["alarm"] == "p1-low"][0]
        eq([e["seq"] for e in events(s1)][:1], [e0["seq"]], "one seq for every link")

        # commands: water may send none, fire only ack
        s1.publish("water/%s/cmd/write" % SITE, {"id": "w1", "point": "r1.relay1", "value": True})
        s2.publish("fire119/%s/cmd/write" % SITE, {"id": "w2", "point": "r1.relay1", "value": True})
        time.sleep(1.5)
        eq(yw.modbus_tcp(simport, 3, 1, 0, 1), [False], "the relay did not switch")
        check(not [p for (t, p) in s1.all() + s2.all()
                   if t.endswith("/cmd/result") and p.get("ok") is True],
              "no ok: true for a command the link may not send")
        s2.publish("fire119/%s/cmd/ack" % SITE, {"id": "a1", "alarm": "p1-low", "by": "119"})
        r = s2.wait(lambda t, p: t == "fire119/%s/cmd/result" % SITE and p.get("id") == "a1", 10,
                    "ack result on the fire link")[-1][1]
        eq(r, {"id": "a1", "ok": True}, "ack through the fire link")
        check(not [t for (t, p) in s0.all() if t.endswith("/cmd/result")],
              "the result went back on the link that asked only")
        # status --json: each link
        st = env.cli_json(path, "status")
        eq([u["id"] for u in st["uplinks"]], ["mqtt", "water", "fire"], "status uplinks")
        check(all(u["connected"] for u in st["uplinks"]), "all connected: %r" % st["uplinks"])
    finally:
        for s in (s0, s1, s2):
            s.close()


@yw.with_env("uplinks-outage")
def test_no_link_holds_up_another(env):
    b0, b1, b2 = env.broker(), env.broker(), env.broker()
    ups = [link("water", b1.port, "water"), link("fire", b2.port, "fire119")]
    cfg, path, sim = setup(env, [b0.port], ups)
    s0 = yw.Sub(b0.port, ["yardwatch/#"])
    try:
        d = env.daemon(path)
        s0.wait(lambda t, p: t.endswith("/status") and isinstance(p, dict) and p.get("online"),
                15, "online")
        time.sleep(1)
        # the water broker stops, the fire broker freezes
        env.stop(b1)
        os.kill(b2.pid, signal.SIGSTOP)
        time.sleep(0.5)
        lat = []
        for i in range(6):
            low = i % 2 == 0
            t = time.monotonic()
            env.sim_step(sim, {"set": {"p1.pressure": 0.05 if low else 0.35}})
            state = "raised" if low else "cleared"
            m = s0.wait(lambda tt, p: "/alarm/" in tt and isinstance(p, dict) and
                        p.get("state") == state and p["seq"] not in [e["seq"] for e in lat],
                        10, "event %d on the healthy link" % i)
            ev = [p for (tt, p) in m if "/alarm/" in tt and p.get("state") == state][-1]
            lat.append({"seq": ev["seq"], "s": time.monotonic() - t})
        worst = max(x["s"] for x in lat)
        print("  healthy link: %d events, worst latency %.2f s with one broker down and one "
              "frozen" % (len(lat), worst))
        check(worst < 2.0, "the healthy link's alarms are not held up (%.2f s)" % worst)
        st = env.cli_json(path, "status")
        depth = {u["id"]: u["outbox_depth"] for u in st["uplinks"]}
        check(depth["water"] >= 6, "water's queue holds the events: %r" % depth)
        rc, out, err = env.cli(path, "status")
        check("uplink water" in out and "NOT connected" in out and "oldest queued" in out,
              "status table: %r" % out)
        # SIGKILL during the outage; the queues are in the store
        os.kill(d.pid, signal.SIGKILL)
        d.wait(5)
        os.kill(b2.pid, signal.SIGCONT)
        b1 = env.broker(port=b1.port)
        s1, s2 = yw.Sub(b1.port, ["water/#"]), yw.Sub(b2.port, ["fire119/#"])
        d = env.daemon(path, name="daemon2")
        seqs = [x["seq"] for x in lat]
        for s in (s1, s2):
            got = wait_for(lambda s=s: (lambda e: len([x for x in e if x["seq"] in seqs]) >= 6
                                        and e)([p for (t, p) in s.all(lambda t, p: "/alarm/" in t)]),
                           20, "queued events delivered")
            mine = [e["seq"] for e in got if e["seq"] in seqs]
            eq(mine, sorted(mine), "in seq order")
            eq(len(mine), len(set(mine)), "each once")
            eq(set(mine), set(seqs), "every one")
            with s.lock:   # what this gateway sent now (not what the broker retained)
                order = [t for (t, p, r, ts) in s.msgs
                         if not r and ("/alarm/" in t or "/device/" in t)]
            first_status = next((i for i, t in enumerate(order) if "/device/" in t), len(order))
            last_alarm = max(i for i, t in enumerate(order) if "/alarm/" in t)
            check(last_alarm < first_status or first_status == len(order),
                  "alarm events before status: %r" % order[:12])
        wait_for(lambda: all(u["outbox_depth"] == 0 for u in env.cli_json(path, "status")["uplinks"]),
                 15, "every queue drained")
        eq(env.stop(d), 0, "clean stop")
    finally:
        try:
            os.kill(b2.pid, signal.SIGCONT)
        except OSError:
            pass
        s0.close()


@yw.with_env("uplinks-reload")
def test_reload_adds_removes_keeps(env):
    b0, b1, b2 = env.broker(), env.broker(), env.broker()
    cfg, path, sim = setup(env, [b0.port], [link("water", b1.port, "water")])
    d = env.daemon(path)
    wait_for(lambda: all(u["connected"] for u in env.cli_json(path, "status")["uplinks"]), 15,
             "links up")
    # water removed, fire added, mqtt unchanged
    cfg["uplinks"] = [link("fire", b2.port, "fire119")]
    path = env.write_config(cfg)
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: [u["id"] for u in env.cli_json(path, "status")["uplinks"]] == ["mqtt", "fire"]
             and all(u["connected"] for u in env.cli_json(path, "status")["uplinks"]), 15,
             "links after the reload")
    log = env.log("daemon")
    check("link mqtt: unchanged, the session stays" in log, "mqtt kept its session")
    check("link water: removed" in log, "water removed")
    check(env.log("mosquitto-%d" % b0.port).count("New client connected") == 1,
          "the unchanged link did not reconnect")
    eq(env.stop(d), 0, "clean stop")


if __name__ == "__main__":
    import sys
    tests = [test_each_link_gets_its_share, test_no_link_holds_up_another,
             test_reload_adds_removes_keeps]
    yw.run([t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
