"""yardwatch read and scan with the daemon running: on a bus it polls they go
through its control socket and its bus worker runs each request between two
polls, so a device on the same line keeps its poll rate during a scan; a
serial line the daemon holds is never opened a second time (exit 75, naming
the daemon, when it cannot be asked); rtu-tcp lines are read and scanned
with and without the daemon."""
import json
import os
import time

import yw
from yw import check, eq, wait_for
from test_read_scan import DEVICES, FOUND, cli, pin, pty_pair
from test_poll_rtutcp import sim_rtu_tcp


def config(env, bus, name="yardwatch.json", fast=250, **extra):
    devices = [dict(d, bus=bus["id"], poll_ms=(fast if d["id"] == "p1" else 1000))
               for d in DEVICES]
    cfg = yw.base_config(env, devices, [bus], **extra)
    return cfg, env.write_config(cfg, name)


def device_polls(env, path, dev="p1"):
    return [d for d in env.cli_json(path, "devices") if d["id"] == dev][0]["polls"]


def all_online(env, path):
    """Every device online: the list is not empty (a store the daemon has
    opened but not yet configured lists none)."""
    devs = env.cli_json(path, "devices")
    return devs and all(x["state"] == "online" for x in devs)


def ctl_reads(env):
    return env.log("daemon").count("for the control socket")


@yw.with_env("scand")
def test_read_and_scan_through_the_daemon(env):
    port = yw.free_port()
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 500}
    cfg, path = config(env, bus)
    sim = env.sim(path, port=port)
    pin(env, sim)
    d = env.daemon(path)
    wait_for(lambda: all_online(env, path), 15,
             "devices online")
    rc, out, err = cli("-c", path, "read", "--bus", "lan", "--unit", "2", "--table", "input",
                       "--address", "0", "--type", "float32", "--json")
    eq((rc, json.loads(out)["value"]), (0, 229.1136), "read through the daemon: " + err)
    eq(ctl_reads(env), 1, "the daemon ran it")
    # the same line named as a line of its own goes through the daemon too
    rc, out, err = cli("-c", path, "read", "--tcp", "127.0.0.1:%d" % port, "--unit", "5",
                       "--table", "coil", "--address", "0", "--count", "3", "--json")
    eq((rc, json.loads(out)["raw"]), (0, [1, 0, 1]), "coils through the daemon: " + err)
    eq(ctl_reads(env), 2, "through the daemon")
    rc, out, err = cli("-c", path, "read", "--bus", "lan", "--unit", "1", "--table", "holding",
                       "--address", "40")
    check(rc == 1 and "exception 2 (illegal data address)" in err, "exception: %r" % err)
    rc, out, err = cli("-c", path, "read", "--bus", "lan", "--unit", "9", "--table", "holding",
                       "--address", "0", "--timeout-ms", "150")
    check(rc == 1 and "timeout" in err, "no answer: %r" % err)

    # a scan of 30 units: 25 of them silent, 150 ms each; p1 keeps its 250 ms
    p0, t0 = device_polls(env, path), time.monotonic()
    rc, out, err = cli("-c", path, "scan", "--bus", "lan", "--units", "1-30", "--timeout-ms",
                       "150", "--json", timeout=120)
    took = time.monotonic() - t0
    eq(rc, 0, "scan: " + err)
    rows = json.loads(out)
    eq([r["unit"] for r in rows], FOUND, "units found through the daemon")
    eq({r["unit"]: r["profile"] for r in rows}[2], "eastron-sdm120", "identified")
    check(ctl_reads(env) >= 30, "each probe through the daemon (%d)" % ctl_reads(env))
    time.sleep(1.2)   # the journal of polls is written once a second
    got = device_polls(env, path) - p0
    want = (took + 1.2) / 0.25
    print("  scan of 30 units took %.1f s; p1 polled %d times (%.0f at its rate)"
          % (took, got, want))
    check(got >= 0.6 * want, "p1 kept its poll rate during the scan: %d polls in %.1f s"
          % (got, took + 1.2))
    eq(env.cli_json(path, "devices")[0]["state"], "online", "p1 online throughout")
    eq(env.stop(d), 0, "clean stop")
    # without the daemon: the command line talks to the line itself
    n = ctl_reads(env)
    rc, out, err = cli("-c", path, "read", "--bus", "lan", "--unit", "2", "--table", "input",
                       "--address", "0", "--type", "float32", "--json")
    eq((rc, json.loads(out)["value"]), (0, 229.1136), "read without the daemon: " + err)
    eq(ctl_reads(env), n, "not through the daemon")


@yw.with_env("scand-rtu")
def test_serial_line_held_by_the_daemon(env):
    a, b = pty_pair(env)
    bus = {"id": "rs485", "type": "rtu", "device": a, "baud": 19200, "timeout_ms": 300,
           "retries": 0}
    cfg, path = config(env, bus, fast=300)
    sim = env.sim(path, rtu=b)
    pin(env, sim)
    d = env.daemon(path)
    wait_for(lambda: all_online(env, path), 15,
             "devices online")
    # through the daemon: by bus, and by the tty of its bus
    for target in (["--bus", "rs485"], ["--rtu", a, "--baud", "19200"]):
        rc, out, err = cli("-c", path, "read", *target, "--unit", "1", "--table", "holding",
                           "--address", "4", "--type", "int16", "--scale", "0.001", "--json")
        eq((rc, json.loads(out)["value"]), (0, 0.333), "%s through the daemon: %s" % (target, err))
    rc, out, err = cli("-c", path, "scan", "--bus", "rs485", "--units", "1-3", "--json")
    eq((rc, [r["unit"] for r in json.loads(out)]), (0, [1, 2, 3]), "scan through: " + err)
    # without the config the daemon's socket is unknown: the line is held, 75
    rc, out, err = cli("read", "--rtu", a, "--baud", "19200", "--unit", "1", "--table",
                       "holding", "--address", "4")
    eq(rc, 75, "a held line: " + err)
    check(("process %d" % d.pid) in err, "names the daemon: %r" % err)
    check(d.poll() is None and env.cli_json(path, "devices")[0]["state"] == "online",
          "the daemon polls on")
    eq(env.stop(d), 0, "stop")

    # a daemon without a control socket holds the line: 75 for --bus too
    cfg["control_socket"] = None
    path = env.write_config(cfg)
    d = env.daemon(path, name="daemon-nosock")
    wait_for(lambda: env.cli_json(path, "devices")[0]["state"] == "online", 15, "online again")
    rc, out, err = cli("-c", path, "scan", "--bus", "rs485", "--units", "1-3")
    eq(rc, 75, "scan of a held line: " + err)
    check(("process %d" % d.pid) in err, "names the daemon: %r" % err)
    eq(env.stop(d), 0, "stop")
    # nobody on the line: the command line opens it itself
    rc, out, err = cli("-c", path, "read", "--bus", "rs485", "--unit", "1", "--table", "holding",
                       "--address", "4", "--json")
    eq((rc, json.loads(out)["raw"]), (0, [333]), "direct read once the daemon stopped: " + err)


@yw.with_env("scand-rtutcp")
def test_rtu_tcp_read_and_scan(env):
    port = yw.free_port()
    bus = {"id": "yard", "type": "rtu-tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 300,
           "retries": 0}
    cfg, path = config(env, bus)
    sim = sim_rtu_tcp(env, path, port)
    pin(env, sim)
    target = ["--rtu-tcp", "127.0.0.1:%d" % port]
    rc, out, err = cli("read", *target, "--unit", "2", "--table", "input", "--address", "0",
                       "--type", "float32", "--json")
    eq((rc, json.loads(out)["value"]), (0, 229.1136), "read over rtu-tcp: " + err)
    rc, out, err = cli("read", *target, "--unit", "9", "--table", "holding", "--address", "0",
                       "--timeout-ms", "150")
    check(rc == 1 and "timeout" in err, "absent unit over rtu-tcp: %r" % err)
    rc, out, err = cli("scan", *target, "--units", "1-10", "--json", "--profiles-dir", yw.PROFILES)
    eq(rc, 0, "scan over rtu-tcp: " + err)
    rows = json.loads(out)
    eq([r["unit"] for r in rows], FOUND, "units over rtu-tcp")
    eq({r["unit"]: r["profile"] for r in rows}[2], "eastron-sdm120", "identified over rtu-tcp")
    # with the daemon on that line: through it
    d = env.daemon(path)
    wait_for(lambda: all_online(env, path), 15,
             "online over rtu-tcp")
    rc, out, err = cli("-c", path, "scan", *target, "--units", "1-10", "--json")
    eq((rc, [r["unit"] for r in json.loads(out)]), (0, FOUND), "scan through the daemon: " + err)
    check(ctl_reads(env) >= 10, "through the daemon")
    eq(env.stop(d), 0, "stop")


if __name__ == "__main__":
    import sys
    tests = [test_read_and_scan_through_the_daemon, test_serial_line_held_by_the_daemon,
             test_rtu_tcp_read_and_scan]
    yw.run([t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
