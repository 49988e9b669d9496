"""The control socket: yardwatch ack / write through the running daemon (the
same checks as MQTT commands), raw Modbus reads run by the bus worker,
refusals of bad requests, the socket's permissions and bounds, and status,
devices and points when the daemon does not run."""
import json
import os
import socket
import stat
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


def ctl(path, req, timeout=10):
    """One request line to the socket at PATH; the reply object."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall((req if isinstance(req, str) else json.dumps(req)).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise yw.Failure("the daemon closed the connection after %r" % buf)
            buf += chunk
        return json.loads(buf.split(b"\n")[0])
    finally:
        s.close()


EXTRA = [
    {"id": "r1", "bus": "lan", "unit": 3, "profile": "relay-8ch", "poll_ms": 500},
    {"id": "v1", "bus": "lan", "unit": 4, "poll_ms": 500, "points": [
        {"name": "setpoint", "table": "holding", "address": 10, "type": "uint16", "scale": 0.1,
         "writable": True, "min": 0, "max": 50, "unit": "C"}]},
]


@yw.with_env("control")
def test_ack_write_and_refusals(env):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, extra_devices=EXTRA, delay_s=0)
    sock = cfg["control_socket"]
    simport = cfg["buses"][0]["port"]
    env.sim_step(sim, {"set": {"v1.setpoint": 20.0, "r1.relay1": False}})
    sub = yw.Sub(broker.port, [P + "/status", P + "/alarm/#", P + "/cmd/result"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        wait_for(lambda: os.path.exists(sock), 5, "control socket")
        # 0660: the daemon's user and group only.
        eq(stat.S_IMODE(os.stat(sock).st_mode), 0o660, "socket mode")
        check(stat.S_ISSOCK(os.stat(sock).st_mode), "a socket")

        # status over the socket and through the command line
        st = wait_for(lambda: (lambda r: r["uplinks"][0]["outbox_depth"] == 0 and r)(
            ctl(sock, {"cmd": "status"})), 10, "outbox drained")
        eq((st["ok"], st["pid"]), (True, d.pid), "status reply")
        eq(st["uplinks"], [{"id": "mqtt", "connected": True, "outbox_depth": 0, "oldest": None}],
           "uplinks")
        eq(st["buses"], [{"id": "lan", "polled": True}], "buses")
        js = env.cli_json(path, "status")
        eq(js["daemon"], {"running": True, "pid": d.pid}, "status --json daemon")
        eq(js["uplinks"][0]["connected"], True, "mqtt connected")
        rc, out, err = env.cli(path, "status")
        check("running (pid %d" % d.pid in out and "uplink mqtt" in out, "status table: %r" % out)

        # write: the coil changes on the device, the value read back is printed
        eq(yw.modbus_tcp(simport, 3, 1, 0, 1), [False], "coil before")
        rc, out, err = env.cli(path, "write", "r1.relay1", "true")
        eq((rc, out.strip()), (0, "r1.relay1 = true (read back)"), "write: %s" % err)
        eq(yw.modbus_tcp(simport, 3, 1, 0, 1), [True], "coil after")
        rc, out, err = env.cli(path, "write", "v1.setpoint", "42.5", "--json")
        eq(rc, 0, "scaled write: %s" % err)
        eq(json.loads(out)["value"], 42.5, "read back")
        eq(yw.modbus_tcp(simport, 4, 3, 10, 1), [425], "register after")

        # refusals: the same checks as on MQTT, and nothing changes
        before = (yw.modbus_tcp(simport, 3, 1, 0, 8), yw.modbus_tcp(simport, 4, 3, 10, 1))
        for args, code, words in [
            (("write", "r1.input1", "1"), 1, "not writable"),
            (("write", "r1.nope", "1"), 66, "unknown point"),
            (("write", "v1.setpoint", "50.5"), 1, "out of range"),
            (("write", "v1.setpoint", "-1"), 1, "out of range"),
            (("write", "r1.relay2", "2"), 1, "out of range"),
            (("write", "v1.setpoint", "abc"), 64, "VALUE must be"),
            (("write", "v1.setpoint"), 64, "missing"),
            (("ack", "no-such-alarm"), 66, "unknown alarm"),
            (("ack", "p1-low"), 1, "not active"),
        ]:
            rc, out, err = env.cli(path, *args)
            eq(rc, code, "%s exit (%s)" % (" ".join(args), err.strip()))
            check(words in err, "%s says %r: %r" % (" ".join(args), words, err))
        eq((yw.modbus_tcp(simport, 3, 1, 0, 8), yw.modbus_tcp(simport, 4, 3, 10, 1)), before,
           "refused writes changed nothing")

        # ack: an active alarm, by name; the acked event reaches MQTT
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        wait_for(lambda: mu.events(sub, lambda e: e["state"] == "raised"), 10, "raised")
        rc, out, err = env.cli(path, "ack", "p1-low", "--by", "night shift")
        eq((rc, out.strip()), (0, "p1-low acknowledged by night shift"), "ack: %s" % err)
        ack = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "acked"), 10, "acked")[0]
        mu.check_event(ack, alarm="p1-low", state="acked", acked=True)
        eq(sub.all(lambda t, p: t == P + "/cmd/result"), [], "socket results never go to MQTT")

        # raw reads run by the bus worker
        eq(ctl(sock, {"cmd": "modbus_read", "args": {"id": "m1", "bus": "lan", "unit": 4,
                                                     "table": "holding", "address": 10}}),
           {"id": "m1", "ok": True, "raw": [425]}, "raw read")
        r = ctl(sock, {"cmd": "modbus_read", "args": {"bus": "lan", "unit": 4, "table": "holding",
                                                      "address": 900, "count": 2}})
        eq((r["ok"], r["status"], r["exception"]), (False, "exception", 2), "exception: %r" % r)
        r = ctl(sock, {"cmd": "modbus_read", "args": {"bus": "lan", "unit": 77, "table": "coil",
                                                      "address": 0, "timeout_ms": 200}})
        eq((r["ok"], r["status"]), (False, "timeout"), "absent unit: %r" % r)

        # malformed and refused requests: a clear error each, the daemon unharmed
        for req, words in [
            ("not json", "malformed JSON"),
            ("[1, 2]", "not a JSON object"),
            ({"cmd": "reboot"}, "unknown cmd"),
            ({"cmd": "status", "extra": 1}, "unknown key"),
            ({"cmd": "write", "args": {"id": "x", "point": "r1.relay1"}}, "value"),
            ({"cmd": "modbus_read", "args": {"bus": "lan", "unit": 1, "table": "holding",
                                             "address": 0, "count": 126}}, "count"),
            ({"cmd": "modbus_read", "args": {"bus": "nope", "unit": 1, "table": "holding",
                                             "address": 0}}, "no bus"),
        ]:
            r = ctl(sock, req)
            check(r["ok"] is False and words in r["error"], "%r refused with %r: %r" % (req, words, r))
        # an oversized request: refused, the connection closed, the daemon runs on
        r = ctl(sock, '{"cmd": "status", "pad": "' + "x" * 5000 + '"}')
        check(r["ok"] is False and "too large" in r["error"], "oversized: %r" % r)
        # idle clients (more than the slots) never lock anyone out
        idle = []
        for _ in range(12):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            idle.append(s)
        eq(ctl(sock, {"cmd": "status"})["ok"], True, "status with 12 idle clients")
        for s in idle:
            s.close()
        check(d.poll() is None, "the daemon runs")
        # the command line refused requests get the daemon's words too
        eq(env.cli(path, "ack", "p1-low")[0], 0, "a second ack of an acked alarm is accepted")
    finally:
        sub.close()


@yw.with_env("control-down")
def test_status_when_the_daemon_is_stopped(env):
    port = yw.free_port()
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 300}]
    devices = [{"id": "p1", "bus": "lan", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 300}]
    cfg = yw.base_config(env, devices, buses)
    path = env.write_config(cfg)
    sock = cfg["control_socket"]
    env.sim(path, port=port)
    d = env.daemon(path)
    wait_for(lambda: env.cli_json(path, "devices")[0]["state"] == "online", 10, "online")
    eq(env.cli_json(path, "points", "p1")[-1]["quality"], "good", "good while running")
    eq(env.stop(d), 0, "clean stop")
    check(not os.path.exists(sock), "the socket file is removed on a clean stop")
    for flag in ("-c", "--db"):
        where = path if flag == "-c" else cfg["storage"]["path"]
        st = env.cli_json(where, "status")
        eq(st["daemon"], {"running": False, "pid": None}, "%s: status daemon" % flag)
        eq(st["devices_online"], 0, "%s: nothing known online" % flag)
        eq([x["state"] for x in env.cli_json(where, "devices")], ["unknown"], "%s: devices" % flag)
        eq({p["quality"] for p in env.cli_json(where, "points")}, {"stale"}, "%s: points" % flag)
    rc, out, err = env.cli(path, "status")
    check("not running" in out and "state unknown" in out, "status table: %r" % out)
    rc, out, err = env.cli(path, "points")
    check("stale" in out and "good" not in out and "not running" in err, "points: %r %r" % (out, err))
    rc, out, err = env.cli(path, "ack", "p1.offline")
    eq(rc, 1, "ack without a daemon")
    check("does not run" in err, "ack says why: %r" % err)

    # a daemon killed hard leaves its socket file: the next one replaces it
    d = env.daemon(path)
    wait_for(lambda: os.path.exists(sock), 5, "socket")
    os.kill(d.pid, 9)
    d.wait(5)
    check(os.path.exists(sock), "a stale socket file remains")
    eq(env.cli_json(path, "status")["daemon"]["running"], False, "stale socket: not running")
    d = env.daemon(path)
    wait_for(lambda: env.cli_json(path, "status")["daemon"]["running"], 10, "running again")
    # a second daemon on the same socket leaves it alone and runs on
    cfg2 = dict(cfg, storage={"path": os.path.join(env.dir, "other.db")})
    path2 = env.write_config(cfg2, "other.json")
    d2 = env.daemon(path2, name="second", level="info")
    wait_for(lambda: "another process listens" in env.log("second"), 10, "second daemon's log")
    check(d2.poll() is None, "the second daemon runs without a socket")
    eq(env.cli_json(path, "status")["daemon"]["pid"], d.pid, "the first keeps its socket")
    eq(env.stop(d2), 0, "second stops")
    eq(env.stop(d), 0, "first stops")


if __name__ == "__main__":
    import sys
    tests = [test_ack_write_and_refusals, test_status_when_the_daemon_is_stopped]
    yw.run([t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
