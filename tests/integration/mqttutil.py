"""Shared set-up of the MQTT integration tests: one simulated TCP bus with a
pressure transmitter (and more), a broker, the daemon, a subscriber on P/#,
and field-by-field checks of the SPEC's payloads."""
import re

import yw
from yw import check, eq

P = "yardwatch/test-site/gw1"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EVENT_KEYS = {"event_id", "seq", "alarm", "state", "severity", "category", "point", "device",
              "location", "value", "unit", "threshold", "message", "ts", "raised_ts", "acked"}


def check_ts(v, what):
    check(isinstance(v, str) and TS_RE.match(v), "%s is RFC 3339 UTC with ms: %r" % (what, v))


def check_event(ev, **want):
    keys = set(ev)
    check(EVENT_KEYS <= keys, "event has every field, missing %s" % (EVENT_KEYS - keys))
    check(keys <= EVENT_KEYS | {"clear"}, "event has no stray fields: %s" % (keys - EVENT_KEYS))
    check(isinstance(ev["seq"], int) and ev["seq"] >= 1, "seq is a positive integer")
    eq(ev["event_id"], "gw1-%d" % ev["seq"], "event_id")
    check_ts(ev["ts"], "ts")
    check_ts(ev["raised_ts"], "raised_ts")
    check(ev["state"] in ("raised", "cleared", "acked"), "state %r" % ev["state"])
    check(isinstance(ev["acked"], bool), "acked is a bool")
    for k, v in want.items():
        if isinstance(v, float) and isinstance(ev[k], (int, float)):
            check(abs(ev[k] - v) < 1e-9, "%s: got %r, want %r" % (k, ev[k], v))
        else:
            eq(ev[k], v, "event." + k)


def setup(env, broker_port, alarms=None, extra_devices=(), delay_s=1, **kw):
    sim_port = yw.free_port()
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim_port, "timeout_ms": 300}]
    devices = [
        {"id": "p1", "bus": "lan", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 500,
         "location": "Building 3 pump room", "category": "fire"},
    ] + list(extra_devices)
    if alarms is None:
        alarms = [{"id": "p1-low", "point": "p1.pressure", "when": "below", "threshold": 0.10,
                   "clear": 0.12, "delay_s": delay_s, "clear_delay_s": 0, "severity": "critical",
                   "category": "fire", "message": "Fire water pressure low, building 3"}]
    cfg = yw.base_config(env, devices, buses, mqtt_port=broker_port, alarms=alarms, **kw)
    path = env.write_config(cfg)
    sim = env.sim(path, port=sim_port)
    for d in devices:
        if d.get("profile") == "pressure-transmitter":
            env.sim_step(sim, {"set": {d["id"] + ".pressure": 0.35}})
    return cfg, path, sim


def events(sub, pred=lambda e: True):
    return [p for (t, p) in sub.all(lambda t, p: t.startswith(P + "/alarm/") and isinstance(p, dict))
            if pred(p)]


def wait_online(sub, timeout=15):
    return sub.wait(lambda t, p: t == P + "/status" and isinstance(p, dict) and p.get("online") is True,
                    timeout, "P/status online")
