"""Field faults end to end: the real daemon polls the real simulator, whose
fault steps garble, cut, misaddress, delay or swallow the answers of one
device, or answer for it as a TCP-to-RTU gateway that cannot reach it
(exceptions 10/11). A subscriber on the broker sees what the centre sees.

What must hold: an answer that is not exactly the answer to the request is
never used (no value from another unit is stored or published); a dead
sensor behind a gateway goes offline like a silent one and its offline alarm
is not cleared while the gateway keeps answering 10/11; every fault makes
the device offline and its end makes it online again; other exception codes
keep the device online."""
import os
import shutil
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P

SOCAT = shutil.which("socat") or "/usr/bin/socat"


def offline_events(sub, state):
    return mu.events(sub, lambda e: e["alarm"] == "p1.offline" and e["state"] == state)


def wait_state(env, path, dev, state, timeout):
    wait_for(lambda: {d["id"]: d["state"] for d in env.cli_json(path, "devices")}[dev] == state,
             timeout, "%s %s" % (dev, state))


def values_seen(env, path, point):
    rows = env.cli_json(path, "history", point, "--since", "10m")
    return [r["value"] for r in rows]


def start(env, rtu=None, offline_after=2, timeout_ms=300):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port)
    cfg["devices"][0]["offline_after"] = offline_after
    cfg["buses"][0]["timeout_ms"] = timeout_ms
    cfg["buses"][0]["retries"] = 0
    if rtu:
        env.stop(sim)
        cfg["buses"] = [{"id": "lan", "type": "rtu", "device": rtu[0], "baud": 19200,
                         "timeout_ms": timeout_ms, "retries": 0}]
    path = env.write_config(cfg)
    if rtu:
        sim = env.sim(path, rtu=rtu[1])
        env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
    sub = yw.Sub(broker.port, [P + "/#"])
    env.daemon(path)
    mu.wait_online(sub)
    sub.wait(lambda t, p: t == P + "/device/p1/status" and p.get("online") is True, 10,
             "p1 online")
    return path, sim, sub


@yw.with_env("fault-gw")
def test_gateway_exceptions_make_the_device_offline(env):
    path, sim, sub = start(env)
    try:
        # A gateway that cannot reach the sensor: offline, like a silent one.
        env.sim_step(sim, {"exception": {"device": "p1", "code": 11}})
        ev = wait_for(lambda: offline_events(sub, "raised"), 10, "offline raised on exception 11")[0]
        mu.check_event(ev, alarm="p1.offline", state="raised", category="fire", device="p1",
                       point=None, value=None)
        wait_state(env, path, "p1", "offline", 5)
        pts = {p["id"]: p for p in env.cli_json(path, "points")}
        eq(pts["p1.pressure"]["quality"], "stale", "points of a device behind a dead path")
        check("gateway: exception 11" in env.log("daemon"), "the log names the gateway exception")
        rep = env.cli_json(path, "report", "--since", "1h")
        f = [d for d in rep["devices"] if d["id"] == "p1"][0]["failures"]
        check(f["gateway"] >= 2, "report counts gateway failures: %r" % f)
        eq(f["exception"], 0, "exceptions 10/11 are not counted as exceptions")

        # Silent for a while, then the gateway answers 11 again: never cleared.
        env.sim_step(sim, {"exception": {"device": "p1", "code": 0}})
        env.sim_step(sim, {"offline": "p1"})
        time.sleep(1.5)
        env.sim_step(sim, {"online": "p1"})
        env.sim_step(sim, {"exception": {"device": "p1", "code": 10}})
        time.sleep(3)
        eq(offline_events(sub, "cleared"), [], "no clear while the gateway answers 10/11")
        eq(len(offline_events(sub, "raised")), 1, "one raise")

        # The sensor is back: cleared.
        env.sim_step(sim, {"exception": {"device": "p1", "code": 0}})
        wait_for(lambda: offline_events(sub, "cleared"), 10, "offline cleared")
        wait_state(env, path, "p1", "online", 5)

        # Any other exception code, a vendor one too, is an answer: online.
        for code in (4, 6, 0x42):
            env.sim_step(sim, {"exception": {"device": "p1", "code": code}})
            time.sleep(1.5)
            eq(len(offline_events(sub, "raised")), 1, "exception %d keeps the device online" % code)
            pts = {p["id"]: p for p in env.cli_json(path, "points")}
            eq(pts["p1.pressure"]["quality"], "bad", "exception %d: the point is bad" % code)
        env.sim_step(sim, {"exception": {"device": "p1", "code": 0}})
    finally:
        sub.close()


@yw.with_env("fault-unit")
def test_answer_of_another_unit_is_never_used(env):
    path, sim, sub = start(env)
    try:
        wait_for(lambda: 0.35 in values_seen(env, path, "p1.pressure"), 10, "0.35 stored")
        env.sim_step(sim, {"fault": {"device": "p1", "kind": "wrong_unit"}})
        env.sim_step(sim, {"set": {"p1.pressure": 9.999}})
        wait_for(lambda: offline_events(sub, "raised"), 10, "offline raised on answers of another unit")
        time.sleep(2)
        check(9.999 not in values_seen(env, path, "p1.pressure"), "no value of another unit stored")
        tele = sub.all(lambda t, p: t == P + "/telemetry/p1")
        check(all(p["values"].get("pressure") != 9.999 for (t, p) in tele),
              "no value of another unit published")
        eq(mu.events(sub, lambda e: e["alarm"] == "p1-low"), [], "no threshold alarm from it")
        check("another unit" in env.log("daemon") or "crc" in env.log("daemon"),
              "the log says why")
        # The fault ends: the same value, now from the right unit, is taken.
        env.sim_step(sim, {"fault": {"device": "p1", "kind": "none"}})
        wait_for(lambda: 9.999 in values_seen(env, path, "p1.pressure"), 10, "9.999 stored after")
        wait_for(lambda: offline_events(sub, "cleared"), 10, "offline cleared")
    finally:
        sub.close()


def each_fault(env, path, sim, sub, kinds):
    for i, (kind, extra) in enumerate(kinds):
        step = {"device": "p1", "kind": kind, "for_s": 3}
        step.update(extra)
        value = round(0.3 + i / 100.0, 3)
        env.sim_step(sim, {"fault": step})
        env.sim_step(sim, {"set": {"p1.pressure": value}})
        wait_for(lambda: len(offline_events(sub, "raised")) == i + 1, 10,
                 "offline raised on %s" % kind)
        # The fault ends by itself after for_s: online again, the value arrives.
        wait_for(lambda: len(offline_events(sub, "cleared")) == i + 1, 15,
                 "offline cleared after %s" % kind)
        wait_for(lambda: value in values_seen(env, path, "p1.pressure"), 10,
                 "value after %s" % kind)
        pts = {p["id"]: p for p in env.cli_json(path, "points")}
        eq(pts["p1.pressure"]["value"], value, "latest value after %s" % kind)


@yw.with_env("fault-tcp")
def test_each_tcp_fault_makes_the_device_offline_then_online(env):
    path, sim, sub = start(env)
    try:
        each_fault(env, path, sim, sub, [("garbage", {}), ("truncate", {}), ("wrong_tid", {}),
                                         ("late", {"delay_ms": 600}), ("silent", {})])
        check(env.procs[2].poll() is None, "the daemon survived every fault")
    finally:
        sub.close()


@yw.with_env("fault-rtu")
def test_each_rtu_fault_makes_the_device_offline_then_online(env):
    a, b = os.path.join(env.dir, "ttyA"), os.path.join(env.dir, "ttyB")
    env.spawn("socat", [SOCAT, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b])
    wait_for(lambda: os.path.exists(a) and os.path.exists(b), 10, "socat ptys")
    path, sim, sub = start(env, rtu=(a, b))
    try:
        each_fault(env, path, sim, sub, [("bad_crc", {}), ("wrong_unit", {}), ("garbage", {}),
                                         ("truncate", {})])
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_gateway_exceptions_make_the_device_offline,
            test_answer_of_another_unit_is_never_used,
            test_each_tcp_fault_makes_the_device_offline_then_online,
            test_each_rtu_fault_makes_the_device_offline_then_online])
