"""yardwatch read and scan without a daemon: the command line talks Modbus
itself to the simulator, over TCP and over RTU on a socat pty pair. read
decodes what the simulator holds, prints registers and bits, reports an
exception, a timeout and a failed link with exit 1, and refuses bad usage
with 64 (an unknown bus: 66); scan finds exactly the simulated units, names
the profile whose identify rule matches, prints JSON and a config snippet
that yardwatchd --check-config accepts, and shows progress only on a
terminal."""
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import time

import yw
from yw import check, eq, wait_for

SOCAT = shutil.which("socat") or "/usr/bin/socat"

# unit -> (device id, profile or inline points)
DEVICES = [
    {"id": "p1", "unit": 1, "profile": "pressure-transmitter"},
    {"id": "m2", "unit": 2, "profile": "eastron-sdm120"},
    {"id": "v3", "unit": 3, "points": [
        {"name": "temp", "table": "holding", "address": 0, "type": "float32", "unit": "C"},
        {"name": "big", "table": "input", "address": 0, "type": "uint32", "order": "CDAB"}]},
    {"id": "r5", "unit": 5, "profile": "relay-8ch"},
    {"id": "e7", "unit": 7, "profile": "chint-dtsu666"},
]
FOUND = [1, 2, 3, 5, 7]


def site(env, bus, name="yardwatch.json"):
    devices = [dict(d, bus=bus["id"], poll_ms=1000) for d in DEVICES]
    return env.write_config(yw.base_config(env, devices, [bus]), name)


def cli(*args, timeout=30):
    r = subprocess.run(yw.ours([yw.CLI] + list(args)), capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def pin(env, sim):
    env.sim_step(sim, {"drift": False})
    env.sim_step(sim, {"set": {"p1.pressure": 0.333, "m2.voltage": 229.1136, "v3.temp": -12.5,
                               "v3.big": 4000000000, "r5.relay1": True, "r5.relay3": True}})
    time.sleep(0.3)


def check_reads(target, with_unit=True):
    """The reads every line answers the same way. TARGET: the TARGET options."""
    rc, out, err = cli("read", *target, "--unit", "2", "--table", "input", "--address", "0",
                       "--type", "float32")
    eq(rc, 0, "float32 read: " + err)
    lines = out.splitlines()
    eq(lines[0].split(), ["ADDRESS", "HEX", "VALUE", "HEX"], "header")
    eq(lines[1].split()[:2], ["0", "0x0000"], "address in decimal and hex")
    eq(lines[-1], "float32 ABCD = 229.1136", "decoded float32, shortest")

    rc, out, err = cli("read", *target, "--unit", "2", "--table", "input", "--address", "0",
                       "--type", "float32", "--json")
    eq(rc, 0, "json read: " + err)
    doc = json.loads(out)
    eq(list(doc.keys()), ["unit", "table", "address", "count", "raw", "value"], "json keys")
    raw = list(struct.unpack(">HH", struct.pack(">f", 229.1136)))
    eq(doc, {"unit": 2, "table": "input", "address": 0, "count": 2, "raw": raw,
             "value": 229.1136}, "json read of a float32")

    # a uint16 register (the meter code the identify rule reads), hex address
    rc, out, err = cli("read", *target, "--unit", "2", "--table", "holding", "--address",
                       "0xFC02", "--type", "uint16", "--json")
    eq(json.loads(out), {"unit": 2, "table": "holding", "address": 64514, "count": 1,
                         "raw": [32], "value": 32}, "uint16 read: " + err)
    # decimals register + value, scaled; CDAB uint32 over two registers
    rc, out, err = cli("read", *target, "--unit", "1", "--table", "holding", "--address", "3",
                       "--count", "2", "--json")
    eq(json.loads(out)["raw"], [3, 333], "raw registers: " + err)
    eq(json.loads(out)["value"], None, "no --type: value null")
    rc, out, err = cli("read", *target, "--unit", "1", "--table", "holding", "--address", "4",
                       "--type", "int16", "--scale", "0.001")
    eq(out.splitlines()[-1], "int16 ABCD x 0.001 = 0.333", "scaled int16: " + err)
    rc, out, err = cli("read", *target, "--unit", "3", "--table", "input", "--address", "0",
                       "--type", "uint32", "--order", "CDAB", "--json")
    eq(json.loads(out)["value"], 4000000000, "uint32 CDAB: " + err)
    eq(json.loads(out)["raw"], [4000000000 & 0xFFFF, 4000000000 >> 16], "CDAB raw")
    rc, out, err = cli("read", *target, "--unit", "3", "--table", "holding", "--address", "0",
                       "--type", "float32", "--json")
    eq(json.loads(out)["value"], -12.5, "negative float32: " + err)

    # coils: 8 bits, and one as bool
    rc, out, err = cli("read", *target, "--unit", "5", "--table", "coil", "--address", "0",
                       "--count", "8")
    eq(rc, 0, "coil read: " + err)
    rows = [ln.split() for ln in out.splitlines()]
    eq(rows[0], ["ADDRESS", "HEX", "BIT"], "bit header")
    eq([r[2] for r in rows[1:]], ["1", "0", "1", "0", "0", "0", "0", "0"], "coil bits")
    eq(rows[3][:2], ["2", "0x0002"], "bit address")
    rc, out, err = cli("read", *target, "--unit", "5", "--table", "coil", "--address", "2",
                       "--type", "bool", "--json")
    eq(json.loads(out), {"unit": 5, "table": "coil", "address": 2, "count": 1, "raw": [1],
                         "value": True}, "coil as bool: " + err)
    rc, out, err = cli("read", *target, "--unit", "5", "--table", "discrete", "--address", "0",
                       "--count", "8", "--json")
    eq(len(json.loads(out)["raw"]), 8, "discrete inputs: " + err)

    # an exception: the address is not served
    rc, out, err = cli("read", *target, "--unit", "1", "--table", "holding", "--address", "40")
    eq(rc, 1, "exception exit code")
    check("exception 2 (illegal data address)" in err, "exception named: %r" % err)
    eq(out, "", "nothing on stdout after an exception")
    rc, out, err = cli("read", *target, "--unit", "1", "--table", "input", "--address", "0")
    check(rc == 1 and "exception 2 (illegal data address)" in err, "no input table: %r" % err)

    # no answer: a unit nobody plays
    t0 = time.monotonic()
    rc, out, err = cli("read", *target, "--unit", "9", "--table", "holding", "--address", "0",
                       "--timeout-ms", "150")
    took = time.monotonic() - t0
    eq(rc, 1, "timeout exit code")
    check("timeout" in err and "150 ms" in err, "timeout named: %r" % err)
    check(took < 5, "a timeout took %.1fs" % took)


def check_read_usage(target, serial):
    """Usage errors (64) of read on TARGET."""
    base = ["read"] + target
    bad = [
        ["read", "--unit", "1", "--table", "holding", "--address", "0"],          # no target
        base + ["--table", "holding", "--address", "0"],                          # no unit
        base + ["--unit", "1", "--address", "0"],                                 # no table
        base + ["--unit", "1", "--table", "holding"],                             # no address
        base + ["--unit", "1", "--table", "holdings", "--address", "0"],
        base + ["--unit", "256", "--table", "holding", "--address", "0"],
        base + ["--unit", "1", "--table", "holding", "--address", "65536"],
        base + ["--unit", "1", "--table", "holding", "--address", "65535", "--count", "2"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--count", "126"],
        base + ["--unit", "1", "--table", "coil", "--address", "0", "--count", "2001"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--count", "0"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--type", "real"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--type", "float32",
                "--count", "1"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--order", "CDAB"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--type", "int16",
                "--order", "ACBD"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--type", "int16",
                "--scale", "0"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--type", "int16",
                "--scale", "x"],
        base + ["--unit", "1", "--table", "coil", "--address", "0", "--type", "uint16"],
        base + ["--unit", "1", "--table", "coil", "--address", "0", "--type", "bool",
                "--scale", "2"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "extra"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--tcp", "h:1"],
        base + ["--unit", "1", "--table", "holding", "--address", "0", "--nope"],
        ["--db", "x.db"] + base + ["--unit", "1", "--table", "holding", "--address", "0"],
    ]
    if serial:
        bad.append(base + ["--unit", "0", "--table", "holding", "--address", "0"])
        bad.append(base + ["--unit", "248", "--table", "holding", "--address", "0"])
    else:
        bad.append(base + ["--unit", "250", "--table", "holding", "--address", "0"])
        bad.append(base + ["--baud", "9600", "--unit", "1", "--table", "holding", "--address",
                           "0"])
    for args in bad:
        rc, out, err = cli(*args)
        eq(rc, 64, "exit code of yardwatch %s (%s)" % (" ".join(args), err.strip()))
        check(err.startswith("yardwatch: ") and "try 'yardwatch --help'" in err,
              "a usage message for %s: %r" % (args, err))
        eq(out, "", "nothing on stdout for %s" % args)


def scan_json(target, *extra):
    rc, out, err = cli("scan", *target, "--units", "1-10", "--json", *extra)
    eq(rc, 0, "scan exit code: " + err)
    return json.loads(out), err


def check_scan(target):
    t0 = time.monotonic()
    rows, err = scan_json(target, "--profiles-dir", yw.PROFILES)
    took = time.monotonic() - t0
    eq([r["unit"] for r in rows], FOUND, "units found")
    by = {r["unit"]: r for r in rows}
    eq(list(by[2].keys()), ["unit", "tables", "profile"], "json keys")
    eq(by[2]["profile"], "eastron-sdm120", "the meter named by its identify rule")
    eq([by[u]["profile"] for u in (1, 3, 5, 7)], [None] * 4, "no rule matched the others")
    eq(by[1]["tables"], ["holding"], "transmitter's tables")
    eq(by[2]["tables"], ["input"], "meter's tables (holding 0 is not served)")
    eq(by[3]["tables"], ["input", "holding"], "inline device's tables")
    eq(by[5]["tables"], ["coil", "discrete"], "relay's tables")
    eq(by[7]["tables"], [], "a unit answering exceptions only is there")
    check("scanning" not in err and "\r" not in err, "no progress on a pipe: %r" % err)
    check(took < 20, "scan of 10 units took %.1fs" % took)

    rc, out, err = cli("scan", *target, "--units", "1-10", "--profiles-dir", yw.PROFILES)
    eq(rc, 0, "scan table: " + err)
    lines = out.splitlines()
    eq(lines[0].split(), ["UNIT", "TABLES", "PROFILE"], "table header")
    eq([ln.split()[0] for ln in lines[1:-1]], [str(u) for u in FOUND], "one row per unit")
    check("eastron-sdm120 (Eastron SDM120-Modbus)" in lines[2], "profile row: %r" % lines[2])
    check(lines[-1].startswith("5 units answered on "), "summary: %r" % lines[-1])

    # one unit, none there
    rc, out, err = cli("scan", *target, "--units", "9", "--json", "--profiles-dir", yw.PROFILES)
    eq((rc, json.loads(out)), (0, []), "scan of an empty address: " + err)


@yw.with_env("readtcp")
def test_read_tcp(env):
    port = yw.free_port()
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 400}
    path = site(env, bus)
    sim = env.sim(path, port=port)
    pin(env, sim)
    target = ["--tcp", "127.0.0.1:%d" % port]
    check_reads(target)
    check_read_usage(target, serial=False)

    # --bus: the bus of the config, with its settings; an unknown one is 66
    rc, out, err = cli("-c", path, "read", "--bus", "lan", "--unit", "2", "--table", "input",
                       "--address", "0", "--type", "float32", "--json")
    eq((rc, json.loads(out)["value"]), (0, 229.1136), "read through --bus: " + err)
    t0 = time.monotonic()
    rc, out, err = cli("-c", path, "read", "--bus", "lan", "--unit", "9", "--table", "holding",
                       "--address", "0")
    check(rc == 1 and "no answer within 400 ms, 2 tries on bus lan (tcp 127.0.0.1:" in err,
          "the bus's timeout: %r" % err)
    check(time.monotonic() - t0 > 0.75, "the bus's retry (1) was used")
    rc, out, err = cli("-c", path, "read", "--bus", "wan", "--unit", "1", "--table", "holding",
                       "--address", "0")
    eq(rc, 66, "unknown bus exit code")
    check("--bus wan: no such bus" in err and "lan" in err, "unknown bus message: %r" % err)
    rc, out, err = cli("-c", os.path.join(env.dir, "nope.json"), "read", "--tcp",
                       "127.0.0.1:%d" % port, "--unit", "1", "--table", "holding", "--address",
                       "0")
    eq(rc, 66, "a config named by -c that does not exist")
    # a failed link: nothing listens there
    rc, out, err = cli("read", "--tcp", "127.0.0.1:%d" % yw.free_port(), "--unit", "1",
                       "--table", "holding", "--address", "0")
    eq(rc, 1, "link failure exit code")
    check("link failed on tcp 127.0.0.1:" in err and "refused" in err, "link failure: %r" % err)


@yw.with_env("scantcp")
def test_scan_tcp(env):
    port = yw.free_port()
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port}
    path = site(env, bus)
    sim = env.sim(path, port=port)
    pin(env, sim)
    target = ["--tcp", "127.0.0.1:%d" % port]
    check_scan(target)

    # the config's profiles_dir without --profiles-dir; --bus
    rc, out, err = cli("-c", path, "scan", "--bus", "lan", "--units", "2", "--json")
    eq((rc, json.loads(out)), (0, [{"unit": 2, "tables": ["input"], "profile": "eastron-sdm120"}]),
       "scan with the config's profiles: " + err)

    # a directory of our own: rules in name order, a bad profile left out
    pdir = os.path.join(env.dir, "profiles")
    os.mkdir(pdir)
    for name in ("eastron-sdm120", "pressure-transmitter", "relay-8ch"):
        shutil.copy(os.path.join(yw.PROFILES, name + ".json"), pdir)
    with open(os.path.join(yw.PROFILES, "pressure-transmitter.json")) as f:
        pt = json.load(f)
    pt["profile"] = "qdy30a-9600"
    pt["identify"] = {"table": "holding", "address": 1, "type": "uint16", "equals": 3}
    with open(os.path.join(pdir, "qdy30a-9600.json"), "w") as f:
        json.dump(pt, f)
    with open(os.path.join(pdir, "broken.json"), "w") as f:
        f.write('{"profile": "broken", "points": []}')
    rows, err = scan_json(target, "--profiles-dir", pdir)
    eq({r["unit"]: r["profile"] for r in rows},
       {1: "qdy30a-9600", 2: "eastron-sdm120", 3: None, 5: None, 7: None},
       "profiles of another directory")
    check("broken.json" in err and "warning" in err, "the bad profile reported: %r" % err)
    rc, out, err = cli("scan", *target, "--profiles-dir", os.path.join(env.dir, "none"))
    eq(rc, 66, "a --profiles-dir that is not there")
    # a config whose profiles_dir is not there: a warning, the scan goes on
    inline = dict(DEVICES[2], bus="lan")
    cfg = yw.base_config(env, [inline], [bus], profiles_dir=os.path.join(env.dir, "none"))
    nodir = env.write_config(cfg, "nodir.json")
    rc, out, err = cli("-c", nodir, "scan", "--bus", "lan", "--units", "2-3", "--json")
    eq((rc, [r["profile"] for r in json.loads(out)]), (0, [None, None]),
       "scan without profiles: " + err)
    check("cannot read the profiles directory" in err and "scanning without profiles" in err,
          "warned: %r" % err)
    # a failed link ends the scan
    rc, out, err = cli("scan", "--tcp", "127.0.0.1:%d" % yw.free_port(), "--units", "1-3",
                       "--profiles-dir", yw.PROFILES)
    check(rc == 1 and "link failed on tcp 127.0.0.1:" in err and out == "",
          "scan of a line nobody listens on: %r" % err)

    # the snippet, pasted into a config, passes yardwatchd --check-config
    rc, out, err = cli("-c", path, "scan", "--bus", "lan", "--units", "1-10", "--config-snippet")
    eq(rc, 0, "snippet: " + err)
    check(out.startswith('"devices": [\n') and out.endswith("\n]\n"), "snippet form: %r" % out)
    devs = json.loads("{" + out + "}")["devices"]
    eq([(d["id"], d["bus"], d["unit"]) for d in devs],
       [("unit-1", "lan", 1), ("eastron-sdm120-2", "lan", 2), ("unit-3", "lan", 3),
        ("unit-5", "lan", 5), ("unit-7", "lan", 7)], "snippet devices")
    eq(devs[1].get("profile"), "eastron-sdm120", "snippet profile")
    eq(devs[3]["points"][0]["table"], "coil", "a point on a table that returned data")
    cfg = yw.base_config(env, [], [bus])
    del cfg["devices"]
    text = json.dumps(cfg, indent=1)[:-1] + ",\n" + out + "}\n"
    pasted = os.path.join(env.dir, "pasted.json")
    with open(pasted, "w") as f:
        f.write(text)
    r = subprocess.run(yw.ours([yw.DAEMON, "-c", pasted, "--check-config"]), capture_output=True,
                       timeout=30)
    eq(r.returncode, 0, "check-config of the pasted snippet: %s" % r.stderr.decode())
    check(r.stdout.decode().startswith("ok: 1 buses, 5 devices"), "check-config: %r" % r.stdout)

    # without --bus and without a config on that line: a placeholder and a note
    rc, out, err = cli("scan", *target, "--units", "2", "--config-snippet", "--profiles-dir",
                       yw.PROFILES)
    eq(json.loads("{" + out + "}")["devices"][0]["bus"], "BUS", "placeholder bus")
    check('replace it with the id' in err, "note about the placeholder: %r" % err)
    # the bus of the config on the same line, found without --bus
    rc, out, err = cli("-c", path, "scan", *target, "--units", "2", "--config-snippet")
    eq(json.loads("{" + out + "}")["devices"][0]["bus"], "lan", "bus found by its line")

    # a gateway whose device behind it is gone (exception 11): absent for
    # scan, an exception for read; answers of another unit: not an answer
    env.sim_step(sim, {"exception": {"device": "v3", "code": 11}})
    time.sleep(0.3)
    rows, err = scan_json(target, "--profiles-dir", yw.PROFILES)
    eq([r["unit"] for r in rows], [1, 2, 5, 7], "exception 11: unit 3 absent")
    rc, out, err = cli("read", *target, "--unit", "3", "--table", "holding", "--address", "0")
    check(rc == 1 and "exception 11 (gateway target device failed to respond)" in err,
          "read of a unit behind a gateway: %r" % err)
    env.sim_step(sim, {"exception": {"device": "v3", "code": 0}})
    env.sim_step(sim, {"fault": {"device": "v3", "kind": "wrong_unit"}})
    time.sleep(0.3)
    rc, out, err = cli("scan", *target, "--units", "3", "--json", "--profiles-dir", yw.PROFILES)
    eq((rc, json.loads(out)), (0, []), "answers of another unit: " + err)
    check("unit 3: only garbled answers" in err, "garbled answers named: %r" % err)
    rc, out, err = cli("read", *target, "--unit", "3", "--table", "holding", "--address", "0")
    check(rc == 1 and "unit 3 holding 0: no valid answer" in err, "read, wrong unit: %r" % err)
    env.sim_step(sim, {"fault": {"device": "v3", "kind": "none"}})
    time.sleep(0.3)
    rows, err = scan_json(target, "--profiles-dir", yw.PROFILES)
    eq([r["unit"] for r in rows], FOUND, "unit 3 back")

    # usage
    for args in (["--units", "10-1"], ["--units", "1-300"], ["--units", "a"], ["--json",
                 "--config-snippet"], ["--units"], ["--unit", "1"]):
        rc, out, err = cli("scan", *target, *args)
        eq(rc, 64, "scan %s: %s" % (args, err))
    rc, out, err = cli("scan", "--units", "1-2")
    eq(rc, 64, "scan without target")

    # progress on a terminal only
    check_progress(target)


def check_progress(target):
    master, slave = pty.openpty()
    p = subprocess.Popen(yw.ours([yw.CLI, "scan", *target, "--units", "1-10", "--profiles-dir",
                                  yw.PROFILES]), stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    got = b""
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.5)
            if not r:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        out = p.communicate(timeout=10)[0].decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        os.close(master)
    text = got.decode()
    eq(p.returncode, 0, "scan on a terminal")
    check("\rscanning [" in text and "10/10 units, 5 found" in text and "0/10 units" in text,
          "progress on the terminal: %r" % text[-300:])
    check(text.endswith("\r\x1b[K"), "progress erased at the end: %r" % text[-40:])
    check("scanning" not in out, "progress not on stdout")


def pty_pair(env):
    a, b = os.path.join(env.dir, "ttyA"), os.path.join(env.dir, "ttyB")
    env.spawn("socat", [SOCAT, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b])
    wait_for(lambda: os.path.exists(a) and os.path.exists(b), 10, "socat ptys")
    return a, b


@yw.with_env("readrtu")
def test_read_scan_rtu(env):
    a, b = pty_pair(env)
    bus = {"id": "rs485", "type": "rtu", "device": a, "baud": 19200, "parity": "N",
           "data_bits": 8, "stop_bits": 1, "timeout_ms": 300, "retries": 0}
    path = site(env, bus)
    sim = env.sim(path, rtu=b)
    pin(env, sim)
    target = ["--rtu", a, "--baud", "19200"]
    check_reads(target)
    check_read_usage(target, serial=True)
    rc, out, err = cli("-c", path, "read", "--bus", "rs485", "--unit", "1", "--table", "holding",
                       "--address", "4", "--type", "int16", "--scale", "0.001", "--json")
    eq((rc, json.loads(out)["value"]), (0, 0.333), "read through --bus on RTU: " + err)
    check_scan(target)
    rc, out, err = cli("scan", *target, "--units", "0-3")
    eq(rc, 64, "unit 0 on a serial line")
    rc, out, err = cli("read", "--rtu", os.path.join(env.dir, "ttyNone"), "--unit", "1",
                       "--table", "holding", "--address", "0")
    check(rc == 1 and "link failed on rtu " in err, "a tty that is not there: %r" % err)
    rc, out, err = cli("scan", "--rtu", os.path.join(env.dir, "ttyNone"), "--units", "1-3",
                       "--profiles-dir", yw.PROFILES)
    check(rc == 1 and "link failed on rtu " in err and out == "",
          "scan of a tty that is not there: %r" % err)


if __name__ == "__main__":
    yw.run([test_read_tcp, test_scan_tcp, test_read_scan_rtu])
