"""Every shipped profile against the real simulator and daemon: a config
with one device per profile (and a 4-20 mA channel of the analog-input
module mapped to its sensor by an inline point) passes yardwatchd
--check-config; yardwatch scan finds every unit and names the profile of
each device whose profile has an identify rule, and no profile for the
others; every point of every profile, set to a value of its own in the
simulator, comes back decoded in the store, good. And yardwatchd --help
lists every option of its man page."""
import glob
import json
import os
import re
import subprocess
import time

import yw
from yw import check, eq, wait_for


def shipped():
    """[(name, profile document)] of config/profiles, in name order."""
    out = []
    for path in sorted(glob.glob(os.path.join(yw.PROFILES, "*.json"))):
        with open(path) as f:
            out.append((os.path.basename(path)[:-5], json.load(f)))
    return out


# A 0-1.6 MPa transmitter on channel 1 of the 4-20 mA module: 4000 uA is
# 0 MPa, 20000 uA is 1.6 MPa (docs/commissioning.md).
MAPPED = {"id": "ai-mapped", "profile": "analog-input-8ch", "points": [
    {"name": "ai1", "table": "input", "address": 0, "type": "uint16",
     "scale": 0.0001, "offset": -0.4, "unit": "MPa"}]}

INT_RANGE = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-2**31, 2**31 - 1),
             "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}


def value_for(p, i, unit, decimals_targets):
    """A value point P (the I-th of its device) can hold exactly, as the
    engineering value the simulator is told to set."""
    t = p.get("type", "bool")
    if t == "bool":
        return i % 3 != 1
    if p["name"] in decimals_targets:
        return 2                                   # two decimal places
    if p["name"] == "modbus_address":
        return unit
    scale, offset = p.get("scale", 1), p.get("offset", 0)
    if t in ("float32", "float64"):
        raw = 200.25 + i                           # exact in a float32
    else:
        lo, hi = INT_RANGE[t]
        raw = 1000 + 37 * i if lo == 0 else -(1000 + 37 * i) if i % 2 else 1000 + 37 * i
        if t in ("int32", "uint32"):
            raw *= 1000
        check(lo <= raw <= hi, "%s: raw %d in range" % (p["name"], raw))
    if p.get("decimals_from"):
        return round(raw / 100.0, 2)
    return round(raw * scale + offset, 10)


def close(got, want, what):
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if got is None:
        return False
    return abs(got - want) <= 1e-6 * max(1.0, abs(want))


@yw.with_env("profiles")
def test_every_profile(env):
    profiles = shipped()
    check(len(profiles) >= 12, "at least 12 shipped profiles: %d" % len(profiles))
    port = yw.free_port()
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 500}
    devices, units, want, ident = [], {}, {}, {}
    for n, (name, doc) in enumerate(profiles, 1):
        check(doc.get("source"), "%s names its source" % name)
        devices.append({"id": name, "bus": "lan", "unit": n, "profile": name, "poll_ms": 500})
        units[n] = name
        if "identify" in doc:
            ident[n] = name
        targets = {p["decimals_from"] for p in doc["points"] if p.get("decimals_from")}
        # decimals first: the simulator scales a point by its current decimals
        for i, p in sorted(enumerate(doc["points"]), key=lambda ip: ip[1]["name"] not in targets):
            want["%s.%s" % (name, p["name"])] = value_for(p, i, n, targets)
    mapped_unit = len(profiles) + 1
    devices.append(dict(MAPPED, bus="lan", unit=mapped_unit, poll_ms=500))
    want["ai-mapped.ai1"] = 0.8                     # 12000 uA
    want["ai-mapped.ai2"] = 20000                   # the profile's raw uA
    path = env.write_config(yw.base_config(env, devices, [bus]))
    # the inline ai1 replaces the profile's: the mapped module has 16 points too
    npoints = sum(len(doc["points"]) for _, doc in profiles) + 16

    # the config naming every shipped profile is valid
    r = subprocess.run(yw.ours([yw.DAEMON, "-c", path, "--check-config"]), capture_output=True,
                       timeout=30)
    eq(r.returncode, 0, "check-config: %s" % r.stderr.decode())
    eq(r.stdout.decode(), "ok: 1 buses, %d devices, %d points, 0 alarms\n"
       % (len(devices), npoints), "check-config summary")

    scen = os.path.join(env.dir, "scenario.json")
    with open(scen, "w") as f:
        json.dump([{"at_s": 0, "drift": False}], f)
    sim = env.sim(path, port=port, scenario=scen)

    # scan: every unit answers; the identify rules name their profiles
    r = subprocess.run(yw.ours([yw.CLI, "scan", "--tcp", "127.0.0.1:%d" % port, "--units",
                                "1-%d" % (mapped_unit + 2), "--json", "--profiles-dir",
                                yw.PROFILES]), capture_output=True, timeout=60)
    eq(r.returncode, 0, "scan: %s" % r.stderr.decode())
    rows = {row["unit"]: row for row in json.loads(r.stdout)}
    eq(sorted(rows), list(range(1, mapped_unit + 1)), "units found")
    check(len(ident) >= 2, "identify rules shipped: %r" % ident)
    for unit, name in units.items():
        eq(rows[unit]["profile"], ident.get(unit), "profile scan names for %s (unit %d)"
           % (name, unit))

    # every point of every profile: set in the simulator, decoded by the daemon
    # one step a device: the simulator's control lines are short
    for dev in devices:
        env.sim_step(sim, {"set": {k: v for k, v in want.items()
                                   if k.split(".")[0] == dev["id"]}})
    time.sleep(0.3)
    d = env.daemon(path)
    state = {}

    def settled():
        pts = {p["id"]: p for p in env.cli_json(path, "points")}
        state["pts"] = pts
        if any(k not in pts for k in want):
            return False
        return all(pts[k]["quality"] == "good" and close(pts[k]["value"], v, k)
                   for k, v in want.items())
    try:
        wait_for(settled, 30, "every point of every profile decoded as set")
    except yw.Failure:
        pts = state.get("pts", {})
        bad = {k: (pts.get(k, {}).get("value"), pts.get(k, {}).get("quality"), v)
               for k, v in want.items() if k not in pts or not close(pts[k]["value"], v, k)
               or pts[k]["quality"] != "good"}
        raise yw.Failure("points not as set (got, quality, want): %r" % bad)
    pts = state["pts"]
    eq(len([k for k in pts if k.startswith("ai-mapped.")]), 16, "mapped module's points")
    eq(pts["ai-mapped.ai1"]["unit"], "MPa", "the inline point's unit")
    eq(pts["analog-input-8ch.ai1"]["unit"], "uA", "the profile's unit")
    devs = {dv["id"]: dv for dv in env.cli_json(path, "devices")}
    check(all(dv["state"] == "online" and dv["errors"] == 0 for dv in devs.values()),
          "every device online without errors: %r" % devs)

    # the mapped channel's register holds the module's raw reading
    rc, out, err = env.cli(path, "read", "--bus", "lan", "--unit", str(mapped_unit),
                           "--table", "input", "--address", "0", "--count", "2", "--json")
    eq(rc, 0, "read of the mapped channel: %s" % err)
    eq(json.loads(out)["raw"], [12000, 20000], "raw uA of channels 1 and 2")
    eq(env.stop(d), 0, "daemon exit code")


def test_help_lists_man_options():
    """Each option of yardwatchd(8)'s OPTIONS section is in --help."""
    with open(os.path.join(yw.SRC, "docs", "man", "yardwatchd.8")) as f:
        man = f.read()
    section = man.split(".SH OPTIONS", 1)[1].split("\n.SH ", 1)[0]
    opts = set()
    for line in section.splitlines():
        if line.startswith(".B"):
            for o in re.findall(r"\\-(?:\\-)?[a-z][a-z-]*(?:\\-[a-z]+)*", line):
                opts.add(o.replace("\\-", "-"))
    check({"-c", "--config", "--check-config", "--log-level", "--version", "-h", "--help"}
          <= opts, "options found in the man page: %r" % sorted(opts))
    r = subprocess.run(yw.ours([yw.DAEMON, "--help"]), capture_output=True, timeout=20)
    eq(r.returncode, 0, "--help exit code")
    out = r.stdout.decode()
    check(out.startswith("usage: yardwatchd "), "usage line: %r" % out)
    for o in sorted(opts):
        check(re.search(r"(^|[\s,\[])%s([\s,=\]]|$)" % re.escape(o), out, re.M),
              "--help lists %s: %r" % (o, out))
    for level in ("error", "warn", "info", "debug"):
        check(level in out, "--help names log level %s" % level)


if __name__ == "__main__":
    yw.run([test_every_profile, test_help_lists_man_options])
