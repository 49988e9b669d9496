"""MQTT commands: write, read and ack, answered on P/cmd/result; every bad
command gets ok:false with a clear error and changes nothing."""
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


def result(sub, rid, timeout=10):
    m = sub.wait(lambda t, p: t == P + "/cmd/result" and isinstance(p, dict) and p.get("id") == rid,
                 timeout, "result of %r" % rid)
    return m[-1][1]


@yw.with_env("cmd")
def test_write_read_ack_and_refusals(env):
    broker = env.broker()
    extra = [
        {"id": "r1", "bus": "lan", "unit": 3, "profile": "relay-8ch", "poll_ms": 500},
        {"id": "v1", "bus": "lan", "unit": 4, "poll_ms": 500, "points": [
            {"name": "setpoint", "table": "holding", "address": 10, "type": "uint16", "scale": 0.1,
             "writable": True, "min": 0, "max": 50, "unit": "C"},
            {"name": "flags", "table": "holding", "address": 11, "type": "bool", "bit": 3,
             "writable": True},
        ]},
    ]
    cfg, path, sim = mu.setup(env, broker.port, extra_devices=extra, delay_s=0)
    simport = cfg["buses"][0]["port"]
    env.sim_step(sim, {"set": {"v1.setpoint": 20.0, "r1.relay1": False}})
    sub = yw.Sub(broker.port, [P + "/cmd/result", P + "/status", P + "/alarm/#"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        time.sleep(1)
        # A write to a writable coil changes the simulator's coil.
        eq(yw.modbus_tcp(simport, 3, 1, 0, 1), [False], "coil before")
        sub.publish(P + "/cmd/write", {"id": "w1", "point": "r1.relay1", "value": True})
        r = result(sub, "w1")
        eq(r, {"id": "w1", "ok": True, "value": True}, "write result")
        eq(yw.modbus_tcp(simport, 3, 1, 0, 1), [True], "coil after")
        # A scaled holding register and a bit of a register.
        sub.publish(P + "/cmd/write", {"id": "w2", "point": "v1.setpoint", "value": 42.5})
        eq(result(sub, "w2"), {"id": "w2", "ok": True, "value": 42.5}, "setpoint write")
        eq(yw.modbus_tcp(simport, 4, 3, 10, 1), [425], "register after")
        sub.publish(P + "/cmd/write", {"id": "w3", "point": "v1.flags", "value": 1})
        eq(result(sub, "w3")["ok"], True, "bit write")
        check(yw.modbus_tcp(simport, 4, 3, 11, 1)[0] & 0x8, "bit 3 set")
        sub.publish(P + "/cmd/read", {"id": "r1", "point": "p1.pressure"})
        eq(result(sub, "r1"), {"id": "r1", "ok": True, "value": 0.35}, "read result")

        before = (yw.modbus_tcp(simport, 3, 1, 0, 8), yw.modbus_tcp(simport, 4, 3, 10, 2))
        bad = [
            ("cmd/write", {"id": "b1", "point": "r1.input1", "value": True}, "not writable"),
            ("cmd/write", {"id": "b2", "point": "r1.nope", "value": True}, "unknown point"),
            ("cmd/write", {"id": "b3", "point": "zz.relay1", "value": True}, "unknown point"),
            ("cmd/write", {"id": "b4", "point": "v1.setpoint", "value": 50.5}, "out of range"),
            ("cmd/write", {"id": "b5", "point": "v1.setpoint", "value": -1}, "out of range"),
            ("cmd/write", {"id": "b6", "point": "r1.relay2", "value": 2}, "out of range"),
            ("cmd/write", {"id": "b7", "point": "r1.relay2", "value": "on"}, "value"),
            ("cmd/write", {"id": "b8", "point": "r1.relay2"}, "value"),
            ("cmd/read", {"id": "b9", "point": "p1.nope"}, "unknown point"),
            ("cmd/ack", {"id": "b10", "alarm": "no-such-alarm"}, "unknown alarm"),
            ("cmd/ack", {"id": "b11", "alarm": "p1-low"}, "not active"),
        ]
        for topic, payload, words in bad:
            sub.publish(P + "/" + topic, payload)
        for topic, payload, words in bad:
            r = result(sub, payload["id"])
            eq(r["ok"], False, "%s ok" % payload["id"])
            check(words in r.get("error", ""), "%s error %r names %r" % (payload["id"], r.get("error"), words))
            check("value" not in r, "%s: a refused command has no value" % payload["id"])
        sub.publish(P + "/cmd/write", "{not json")
        m = sub.wait(lambda t, p: t == P + "/cmd/result" and isinstance(p, dict) and p.get("id") is None,
                     10, "result of malformed JSON")
        eq(m[-1][1]["ok"], False, "malformed ok")
        check("JSON" in m[-1][1]["error"], "malformed error %r" % m[-1][1]["error"])
        time.sleep(0.5)
        after = (yw.modbus_tcp(simport, 3, 1, 0, 8), yw.modbus_tcp(simport, 4, 3, 10, 2))
        eq(after, before, "refused commands changed nothing")

        # Ack of an active latched alarm is accepted.
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        wait_for(lambda: mu.events(sub, lambda e: e["state"] == "raised"), 10, "raised")
        sub.publish(P + "/cmd/ack", {"id": "a1", "alarm": "p1-low", "by": "operator"})
        eq(result(sub, "a1"), {"id": "a1", "ok": True}, "ack result")
        ack = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "acked"), 10, "acked event")[0]
        mu.check_event(ack, alarm="p1-low", state="acked", acked=True)
        eq(env.stop(d), 0, "daemon exit code")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_write_read_ack_and_refusals])
