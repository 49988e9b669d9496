"""The daemon polls the simulator over rtu-tcp: Modbus RTU frames (with CRC)
on a TCP connection, as a serial device server in transparent mode carries
them (yardwatch-sim --rtu-tcp). Every point of the simulator's devices
decodes on rtu-tcp to what the same devices read over Modbus TCP, and to the
values the simulator was told; a garbled answer and a short (truncated) one
make the device offline without touching its neighbour on the line, and it
comes back online with the right value when the fault ends; a dropped
connection (the simulator restarted on its port) makes the line's devices
offline, and the daemon reconnects by itself."""
import json
import os
import subprocess

import yw
from yw import check, eq, wait_for


def sim_rtu_tcp(env, path, rtu_tcp_port, tcp_port=None, name="sim", scenario=None):
    """yardwatch-sim serving PATH's devices over rtu-tcp (and Modbus TCP when
    TCP_PORT is given), steered through --control."""
    argv = [yw.SIM, "-c", path, "--profiles", yw.PROFILES, "--control",
            "--rtu-tcp", "127.0.0.1:%d" % rtu_tcp_port]
    if tcp_port:
        argv += ["--tcp", "127.0.0.1:%d" % tcp_port]
    if scenario:
        argv += ["--scenario", scenario]
    p = env.spawn(name, argv, stdin=subprocess.PIPE)
    yw.wait_port(rtu_tcp_port)
    if tcp_port:
        yw.wait_port(tcp_port)
    return p


def points_by_id(env, path):
    return {p["id"]: p for p in env.cli_json(path, "points")}


def devices_by_id(env, path):
    return {d["id"]: d for d in env.cli_json(path, "devices")}


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return abs(a - b) <= 1e-9 * max(1, abs(a))


X_POINTS = [
    {"name": "i16", "table": "holding", "address": 0, "type": "int16"},
    {"name": "u32", "table": "holding", "address": 1, "type": "uint32", "order": "CDAB"},
    {"name": "f32", "table": "input", "address": 0, "type": "float32", "order": "DCBA"},
    {"name": "f64", "table": "input", "address": 2, "type": "float64", "order": "BADC"},
    {"name": "i64", "table": "holding", "address": 3, "type": "int64"},
    {"name": "scaled", "table": "holding", "address": 7, "type": "uint16", "scale": 0.1, "offset": -40},
    {"name": "b0", "table": "holding", "address": 8, "type": "bool", "bit": 0},
    {"name": "b15", "table": "holding", "address": 8, "type": "bool", "bit": 15},
    {"name": "c5", "table": "coil", "address": 5, "type": "bool"},
    {"name": "d9", "table": "discrete", "address": 9, "type": "bool"},
]
PROFILES = [(1, "pressure-transmitter"), (2, "chint-dtsu666"), (3, "relay-8ch"),
            (4, "camera-io"), (5, "eastron-sdm120")]


@yw.with_env("rtutcp-values")
def test_every_point_decodes_as_over_tcp(env):
    # The same devices twice: "y-*" on an rtu-tcp bus, "t-*" on a tcp bus,
    # served by one simulator on both transports, drift off from the start.
    rport, tport = yw.free_port(), yw.free_port()
    buses = [{"id": "yard", "type": "rtu-tcp", "host": "127.0.0.1", "port": rport,
              "timeout_ms": 500, "inter_frame_delay_ms": 10},
             {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": tport, "timeout_ms": 500}]
    devices = []
    for prefix, bus in (("y", "yard"), ("t", "lan")):
        for unit, profile in PROFILES:
            devices.append({"id": "%s-%s" % (prefix, profile), "bus": bus, "unit": unit,
                            "profile": profile, "poll_ms": 500})
        devices.append({"id": prefix + "-x", "bus": bus, "unit": 6, "poll_ms": 500,
                        "points": X_POINTS})
    path = env.write_config(yw.base_config(env, devices, buses))
    scen = os.path.join(env.dir, "scenario.json")
    with open(scen, "w") as f:
        json.dump([{"at_s": 0, "drift": False}], f)
    sim = sim_rtu_tcp(env, path, rport, tport, scenario=scen)
    want = {"x.i16": -1234, "x.u32": 3000000000, "x.f32": 12.5, "x.f64": -0.0625,
            "x.i64": -5000000000, "x.scaled": 21.5, "x.b0": True, "x.b15": True, "x.c5": True,
            "pressure-transmitter.pressure": 0.427, "relay-8ch.relay3": True}
    env.sim_step(sim, {"set": {"%s-%s" % (p, k): v for p in ("y", "t") for k, v in want.items()}})
    d = env.daemon(path)

    npoints = len(X_POINTS)
    for _, pr in PROFILES:
        with open(os.path.join(yw.PROFILES, pr + ".json")) as f:
            npoints += len(json.load(f)["points"])

    def settled():
        pts = points_by_id(env, path)
        if len(pts) != 2 * npoints:
            return False
        if any(p["quality"] != "good" or p["value"] is None for p in pts.values()):
            return False
        for k, v in want.items():
            if not same(pts["y-" + k]["value"], v) or not same(pts["t-" + k]["value"], v):
                return False
        return pts
    pts = wait_for(settled, 20, "every point good on both buses, the values set")
    for pid, p in pts.items():
        if pid.startswith("y-"):
            t = pts["t-" + pid[2:]]
            check(same(p["value"], t["value"]),
                  "%s: %r over rtu-tcp, %r over tcp" % (pid[2:], p["value"], t["value"]))
            eq(p["unit"], t["unit"], "unit of %s" % pid)
    devs = devices_by_id(env, path)
    check(all(dv["state"] == "online" and dv["errors"] == 0 for dv in devs.values()),
          "every device online without errors: %r" % devs)
    check("bus yard (127.0.0.1:%d): connected" % rport in env.log("daemon"),
          "the daemon's log names the rtu-tcp line")
    eq(env.stop(d), 0, "daemon exit code")


def wait_state(env, path, dev, state, timeout):
    wait_for(lambda: devices_by_id(env, path)[dev]["state"] == state, timeout,
             "%s %s" % (dev, state))


@yw.with_env("rtutcp-faults")
def test_garbled_short_and_dropped(env):
    port = yw.free_port()
    buses = [{"id": "yard", "type": "rtu-tcp", "host": "127.0.0.1", "port": port,
              "timeout_ms": 300, "retries": 0}]
    devices = [
        {"id": "p1", "bus": "yard", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 500,
         "offline_after": 2},
        {"id": "r3", "bus": "yard", "unit": 3, "profile": "relay-8ch", "poll_ms": 500},
    ]
    path = env.write_config(yw.base_config(env, devices, buses))
    sim = sim_rtu_tcp(env, path, port)
    env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
    d = env.daemon(path)
    wait_for(lambda: points_by_id(env, path).get("p1.pressure", {}).get("value") == 0.35, 15,
             "0.35 stored")
    r3_errors = devices_by_id(env, path)["r3"]["errors"]

    # A garbled answer, a short one: offline, then online with the new value.
    for i, kind in enumerate(("garbage", "truncate")):
        value = round(0.2 + i / 100.0, 3)
        env.sim_step(sim, {"fault": {"device": "p1", "kind": kind, "for_s": 3}})
        env.sim_step(sim, {"set": {"p1.pressure": value}})
        wait_state(env, path, "p1", "offline", 10)
        wait_state(env, path, "p1", "online", 15)
        wait_for(lambda: points_by_id(env, path)["p1.pressure"]["value"] == value, 10,
                 "%s after %s" % (value, kind))
    rep = env.cli_json(path, "report", "--since", "1h")
    f = [dv for dv in rep["devices"] if dv["id"] == "p1"][0]["failures"]
    check(f["crc"] >= 4, "garbled and short answers count as crc: %r" % f)
    devs = devices_by_id(env, path)
    eq(devs["r3"]["state"], "online", "the neighbour on the line")
    eq(devs["r3"]["errors"], r3_errors, "the neighbour's errors while p1 was garbled")

    # The connection drops: the serial server (the simulator) restarts on
    # its port. Both devices go offline, then the daemon reconnects.
    eq(env.stop(sim), 0, "simulator exit code")
    wait_state(env, path, "p1", "offline", 10)
    wait_state(env, path, "r3", "offline", 10)
    sim = sim_rtu_tcp(env, path, port, name="sim2")
    env.sim_step(sim, {"set": {"p1.pressure": 0.31}})
    wait_state(env, path, "p1", "online", 40)
    wait_state(env, path, "r3", "online", 40)
    wait_for(lambda: points_by_id(env, path)["p1.pressure"]["value"] == 0.31, 10,
             "0.31 from the new connection")
    log = env.log("daemon")
    check("bus yard (127.0.0.1:%d): connection lost" % port in log, "the loss is logged")
    check("bus yard (127.0.0.1:%d): reconnected" % port in log, "the reconnect is logged")
    eq(env.stop(d), 0, "daemon exit code")


if __name__ == "__main__":
    yw.run([test_every_point_decodes_as_over_tcp, test_garbled_short_and_dropped])
