"""The daemon under a supervisor: sd_notify (READY, WATCHDOG, STOPPING),
SIGTERM while a bus is stuck in a timeout, SIGHUP reloads that add and
remove devices and change alarms without losing state, and a broken config
refused on reload while polling goes on."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P

SOCAT = shutil.which("socat") or "/usr/bin/socat"


@yw.with_env("notify")
def test_sd_notify_ready_watchdog_stopping(env):
    sock_path = os.path.join(env.dir, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.2)
    got = []

    def drain(until):
        while time.monotonic() < until:
            try:
                msg = s.recv(4096).decode()
            except socket.timeout:
                continue
            got.append((time.monotonic(), msg))
    try:
        broker = env.broker()
        cfg, path, sim = mu.setup(env, broker.port)
        d = env.daemon(path, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "1000000"})
        drain(time.monotonic() + 4.5 * yw.SLOW)
        msgs = [m for t, m in got]
        check(any("READY=1" in m for m in msgs), "READY=1 sent: %r" % msgs[:5])
        pings = [t for t, m in got if "WATCHDOG=1" in m]
        # WATCHDOG_USEC 1 s: a ping every 0.5 s.
        check(len(pings) >= 6, "WATCHDOG=1 pings in 4.5 s: %d" % len(pings))
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        check(max(gaps) < 1.0 * yw.SLOW, "no gap between pings reaches the watchdog period: %r" % gaps)
        os.kill(d.pid, signal.SIGTERM)
        drain(time.monotonic() + 2 * yw.SLOW)
        eq(d.wait(10), 0, "exit code")
        check(any("STOPPING=1" in m for t, m in got), "STOPPING=1 sent")
    finally:
        s.close()


@yw.with_env("sigterm-rtu")
def test_sigterm_while_rtu_device_times_out(env):
    a, b = os.path.join(env.dir, "ttyA"), os.path.join(env.dir, "ttyB")
    env.spawn("socat", [SOCAT, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b])
    wait_for(lambda: os.path.exists(a) and os.path.exists(b), 10, "ptys")
    broker = env.broker()
    buses = [{"id": "rs485", "type": "rtu", "device": a, "baud": 9600, "timeout_ms": 4000, "retries": 1}]
    devices = [{"id": "p1", "bus": "rs485", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 500},
               {"id": "p2", "bus": "rs485", "unit": 2, "profile": "pressure-transmitter", "poll_ms": 500}]
    cfg = yw.base_config(env, devices, buses, mqtt_port=broker.port)
    path = env.write_config(cfg)
    sim = env.sim(path, rtu=b)
    sub = yw.Sub(broker.port, [P + "/status"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        wait_for(lambda: len(env.cli_json(path, "points")) and
                 env.cli_json(path, "points", "p1")[-1]["quality"] == "good", 10, "p1 read")
        env.sim_step(sim, {"offline": "p2"})
        env.sim_step(sim, {"offline": "p1"})
        time.sleep(1.0)   # the worker is now inside a 4 s timeout (x2 with the retry)
        t0 = time.monotonic()
        os.kill(d.pid, signal.SIGTERM)
        rc = d.wait(10)
        took = time.monotonic() - t0
        eq(rc, 0, "exit code")
        check(took < 5.0, "stopped in %.2fs (limit 5 s)" % took)
        m = sub.wait(lambda t, p: p.get("online") is False, 5, "offline status")
        eq(m[-1][1]["reason"], "shutdown", "reason")
        mu.check_ts(m[-1][1]["ts"], "ts")
        con = sqlite3.connect(cfg["storage"]["path"])
        eq(con.execute("PRAGMA integrity_check").fetchone()[0], "ok", "store integrity")
        con.close()
    finally:
        sub.close()


@yw.with_env("sighup")
def test_sighup_add_change_remove_and_refuse(env):
    broker = env.broker()
    more = [{"id": "p2", "bus": "lan", "unit": 2, "profile": "pressure-transmitter", "poll_ms": 500,
             "category": "fire"}]
    alarms = [{"id": "p1-low", "point": "p1.pressure", "when": "below", "threshold": 0.10,
               "severity": "critical", "category": "fire"},
              {"id": "p2-low", "point": "p2.pressure", "when": "below", "threshold": 0.10,
               "severity": "critical", "category": "fire"}]
    cfg, path, sim = mu.setup(env, broker.port, alarms=alarms, extra_devices=more)
    # The simulator serves p3 from the start (its own config lists it).
    simcfg = json.loads(json.dumps(cfg))
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        env.sim_step(sim, {"set": {"p2.pressure": 0.05}})
        wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p2-low" and e["state"] == "raised"), 10,
                 "p2-low raised")

        def readings(point):
            h = env.cli_json(path, "history", point)
            return len(h)

        # 1. Add a device (the simulator answers for unit 3 as soon as we ask: restart it with p3).
        cfg["devices"].append({"id": "p3", "bus": "lan", "unit": 3, "profile": "pressure-transmitter",
                               "poll_ms": 500})
        env.write_config(cfg)
        env.stop(sim)
        sim = env.sim(path, port=cfg["buses"][0]["port"])
        env.sim_step(sim, {"set": {"p1.pressure": 0.35, "p2.pressure": 0.05, "p3.pressure": 0.3}})
        os.kill(d.pid, signal.SIGHUP)
        wait_for(lambda: any(p["id"] == "p3.pressure" and p["quality"] == "good"
                             for p in env.cli_json(path, "points")), 10, "p3 polled after the reload")
        n1 = readings("p1.pressure")
        active = env.cli_json(path, "alarms", "--active")
        eq([a["alarm"] for a in active], ["p2-low"], "p2-low still active after the reload")
        # 2. Change an alarm threshold: p1 at 0.35 is now below 0.40.
        cfg["alarms"][0]["threshold"] = 0.40
        env.write_config(cfg)
        os.kill(d.pid, signal.SIGHUP)
        ev = wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p1-low" and e["state"] == "raised"),
                      10, "p1-low raised with the new threshold")[0]
        eq(ev["threshold"], 0.40, "new threshold in the event")
        # 3. Remove a device.
        cfg["devices"] = [x for x in cfg["devices"] if x["id"] != "p3"]
        env.write_config(cfg)
        os.kill(d.pid, signal.SIGHUP)
        wait_for(lambda: "p3" not in [x["id"] for x in env.cli_json(path, "devices")], 10, "p3 gone")
        time.sleep(0.7)   # a poll already on the wire when the reload came
        s1 = env.sim_stats(sim)["devices"]["p3"]["requests"]
        time.sleep(1.5)
        eq(env.sim_stats(sim)["devices"]["p3"]["requests"], s1, "p3 no longer polled")
        # 4. A broken config is refused; polling and alarms go on.
        path = cfg["storage"]["path"]   # the command line now reads the store directly
        cfgfile = env.dir + "/yardwatch.json"
        with open(cfgfile, "w") as f:
            f.write('{"site": {"id": "test-site", "gateway": "gw1"}, "buses": [], "devices": [{"id": "BAD!"}]}')
        os.kill(d.pid, signal.SIGHUP)
        wait_for(lambda: "reload refused" in env.log("daemon"), 5, "the refusal logged")
        check("devices[0].id" in env.log("daemon"), "the config error itself is logged")
        n2 = readings("p1.pressure")
        time.sleep(2)
        check(d.poll() is None, "still running")
        polls = {x["id"]: x["polls"] for x in env.cli_json(path, "devices")}
        time.sleep(1.5)
        polls2 = {x["id"]: x["polls"] for x in env.cli_json(path, "devices")}
        check(polls2["p1"] > polls["p1"] and polls2["p2"] > polls["p2"], "polling goes on: %r -> %r" %
              (polls, polls2))
        active = sorted(a["alarm"] for a in env.cli_json(path, "alarms", "--active"))
        eq(active, ["p1-low", "p2-low"], "alarms still active")
        # Delivery is at-least-once (a reload restarts the link, and what was
        # in flight goes again): the same event twice is allowed, a second
        # raise (another seq) is not.
        raised = {}
        for e in mu.events(sub):
            if e["state"] == "raised":
                check(raised.get(e["seq"], e) == e, "a repeated event is the same event")
                raised[e["seq"]] = e
        eq(sorted(e["alarm"] for e in raised.values()), ["p1-low", "p2-low"],
           "no alarm raised twice by reloads")
        check(n2 >= n1, "p1 readings kept (%d -> %d)" % (n1, n2))
        eq(env.stop(d), 0, "exit code")
    finally:
        sub.close()


def second_sim(env, path, port, name="sim2"):
    """Another simulator of the same config on PORT, with its own stats file."""
    import subprocess
    stats = os.path.join(env.dir, name + "-stats.json")
    p = env.spawn(name, [yw.SIM, "-c", path, "--profiles", yw.PROFILES, "--control", "--tcp",
                         "127.0.0.1:%d" % port, "--stats", stats], stdin=subprocess.PIPE)
    p.port = port
    p.stats_file = stats
    yw.wait_port(port)
    return p


def request_times(env, sim, dev, seconds):
    """The times (monotonic) at which the simulator's count of DEV's requests
    went up, watched for SECONDS."""
    times, last = [], None
    end = time.monotonic() + seconds * yw.SLOW
    while time.monotonic() < end:
        s = env.sim_stats(sim)
        n = s["devices"][dev]["requests"] if s else None
        if n is not None and last is not None and n > last:
            times.append(time.monotonic())
        last = n if n is not None else last
        time.sleep(0.05)
    return times


def two_bus_setup(env, broker):
    """Buses a and b on two simulators, p1 on a, p2 on b (poll 500 ms)."""
    pa, pb = yw.free_port(), yw.free_port()
    buses = [{"id": "a", "type": "tcp", "host": "127.0.0.1", "port": pa, "timeout_ms": 300},
             {"id": "b", "type": "tcp", "host": "127.0.0.1", "port": pb, "timeout_ms": 300}]
    devices = [{"id": "p1", "bus": "a", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 500},
               {"id": "p2", "bus": "b", "unit": 2, "profile": "pressure-transmitter", "poll_ms": 500}]
    cfg = yw.base_config(env, devices, buses, mqtt_port=broker.port)
    path = env.write_config(cfg)
    sa = env.sim(path, port=pa)
    sb = second_sim(env, path, pb)
    return cfg, path, sa, sb


def modbus_connects(text, bus=""):
    """Lines of TEXT saying a Modbus bus (BUS: that one) connected."""
    return [l for l in text.splitlines()
            if l.startswith("INFO modbus: bus " + bus) and l.endswith("): connected")]


def reload_and_wait(env, d, n):
    """SIGHUP, and wait for the Nth "reloaded" line of the log."""
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: env.log("daemon").count("INFO main: reloaded:") >= n, 10, "reload %d" % n)


def max_gap(times, t0, t1):
    """Longest interval without a request in [t0, t1]."""
    pts = [t0] + [t for t in times if t0 <= t <= t1] + [t1]
    return max(b - a for a, b in zip(pts, pts[1:]))


@yw.with_env("reload-same")
def test_reload_unchanged_keeps_buses(env):
    broker = env.broker()
    cfg, path, sa, sb = two_bus_setup(env, broker)
    d = env.daemon(path)
    wait_for(lambda: len(modbus_connects(env.log("daemon"))) >= 2, 10, "both buses connected")
    time.sleep(1)
    log0 = env.log("daemon")
    result = {}

    def watch():
        result["times"] = request_times(env, sa, "p1", 5)
    import threading
    th = threading.Thread(target=watch)
    th.start()
    time.sleep(1.5)
    t_hup = time.monotonic()
    reload_and_wait(env, d, 1)
    th.join()
    log1 = env.log("daemon")
    new = log1[len(log0):]
    check("bus: a: unchanged, keeps polling" in new and "bus: b: unchanged, keeps polling" in new,
          "both buses kept: %r" % new[-800:])
    eq(modbus_connects(new), [], "no bus connected again")
    eq(new.count("polling 1 device"), 0, "no worker started again")
    gap = max_gap(result["times"], t_hup - 1.0, t_hup + 2.5)
    print("longest gap in p1's requests around the reload: %.2f s" % gap)
    check(gap < 0.9 * yw.SLOW, "polls go on without a gap (poll_ms 500): %.2f s" % gap)
    # The MQTT session stays too: one connect of the gateway at the broker.
    check("mqtt: unchanged, the session stays" in new, "the link kept: %r" % new[-800:])
    blog = env.log("mosquitto-%d" % broker.port)
    eq(blog.count("as test-site-gw1"), 1, "one MQTT connect of the gateway across the reload")
    # A change of the mqtt section makes the link anew (a new connect).
    cfg["mqtt"]["keepalive_s"] = 7
    env.write_config(cfg)
    reload_and_wait(env, d, 2)
    wait_for(lambda: env.log("mosquitto-%d" % broker.port).count("as test-site-gw1") == 2, 10,
             "the gateway connects again after an mqtt change")
    eq(env.stop(d), 0, "exit code")


@yw.with_env("reload-one")
def test_reload_one_device_restarts_one_bus(env):
    broker = env.broker()
    cfg, path, sa, sb = two_bus_setup(env, broker)
    sub = yw.Sub(broker.port, [P + "/cmd/result"])
    try:
        d = env.daemon(path)
        wait_for(lambda: len(modbus_connects(env.log("daemon"))) >= 2, 10, "both buses connected")
        time.sleep(1)
        log0 = env.log("daemon")
        cfg["devices"][1]["poll_ms"] = 300   # p2, on bus b
        env.write_config(cfg)
        reload_and_wait(env, d, 1)
        wait_for(lambda: modbus_connects(env.log("daemon")[len(log0):], "b "), 10,
                 "bus b connected again")
        new = env.log("daemon")[len(log0):]
        check("bus: a: unchanged, keeps polling" in new, "bus a kept: %r" % new[-800:])
        check("bus: b: changed, restarting its worker" in new, "bus b restarted")
        eq(modbus_connects(new, "a "), [], "bus a did not connect again")
        eq(new.count("bus b: polling 1 device"), 1, "one new worker, for b")
        # p2 now polled every 300 ms; p1 still every 500 ms
        n1 = len(request_times(env, sb, "p2", 3))
        check(n1 >= 8, "p2 polled at its new rate: %d requests in 3 s" % n1)
        # commands reach both buses after the reload
        sub.publish(P + "/cmd/read", {"id": "r1", "point": "p1.pressure"})
        sub.publish(P + "/cmd/read", {"id": "r2", "point": "p2.pressure"})
        for rid in ("r1", "r2"):
            m = sub.wait(lambda t, p: p.get("id") == rid, 10, "result " + rid)
            eq(m[-1][1]["ok"], True, rid + " ok")
        eq(env.stop(d), 0, "exit code")
    finally:
        sub.close()


@yw.with_env("reload-rtu")
def test_reload_rtu_waits_for_the_line(env):
    """An RTU worker inside a long timeout when its bus changes: the reload
    does not wait for it, and its replacement opens the tty only once it has
    finished (never two workers on one line)."""
    a, b = os.path.join(env.dir, "ttyA"), os.path.join(env.dir, "ttyB")
    env.spawn("socat", [SOCAT, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b])
    wait_for(lambda: os.path.exists(a) and os.path.exists(b), 10, "ptys")
    buses = [{"id": "rs485", "type": "rtu", "device": a, "baud": 19200, "timeout_ms": 1500,
              "retries": 0}]
    devices = [{"id": "p1", "bus": "rs485", "unit": 1, "profile": "pressure-transmitter",
                "poll_ms": 300}]
    cfg = yw.base_config(env, devices, buses)
    path = env.write_config(cfg)
    sim = env.sim(path, rtu=b)
    env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
    d = env.daemon(path)
    wait_for(lambda: "p1 (unit 1) is online" in env.log("daemon"), 10, "p1 online")
    env.sim_step(sim, {"offline": "p1"})
    time.sleep(0.5)   # the worker now waits out a 1.5 s timeout
    log0 = env.log("daemon")
    cfg["devices"][0]["poll_ms"] = 400
    env.write_config(cfg)
    t0 = time.monotonic()
    reload_and_wait(env, d, 1)
    took = time.monotonic() - t0
    new = env.log("daemon")[len(log0):]
    check("bus: rs485: waits until the old worker has closed %s" % a in new,
          "the replacement waits for the line: %r" % new[-600:])
    check(took < 1.2, "the reload did not wait out the timeout: %.2f s" % took)
    wait_for(lambda: "bus: bus rs485: polling 1 device" in env.log("daemon")[len(log0):], 5,
             "the replacement started")
    new = env.log("daemon")[len(log0):]
    check(new.index("waits until the old worker") < new.index("bus rs485: polling 1 device"),
          "started after the old worker finished")
    reads = env.sim_stats(sim)["devices"]["p1"]["reads"]
    env.sim_step(sim, {"online": "p1"})
    wait_for(lambda: env.sim_stats(sim)["devices"]["p1"]["reads"] >= reads + 3, 15,
             "p1 read by the replacement")
    eq(env.stop(d), 0, "exit code")


@yw.with_env("journal")
def test_log_levels_and_journal_priorities(env):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port)
    # Under journald, stderr is the stream JOURNAL_STREAM names: lines carry <prio>.
    logf = os.path.join(env.dir, "journal.log")
    with open(logf, "wb") as f:
        st = os.fstat(f.fileno())
        p = __import__("subprocess").Popen(yw.ours([yw.DAEMON, "-c", path, "--log-level", "debug"]),
                                           stdout=f, stderr=f, start_new_session=True,
                                           env=dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino)))
    env.procs.append(p)
    p.yw_name = "journal"
    wait_for(lambda: "polling started" in open(logf).read(), 10, "start-up lines")
    eq(env.stop(p), 0, "exit code")
    lines = [l for l in open(logf).read().splitlines() if l]
    check(lines and all(l[:3] in ("<3>", "<4>", "<6>", "<7>") for l in lines),
          "every line has a syslog priority: %r" % lines[:3])
    check(any(l.startswith("<6>INFO main: ") for l in lines), "info maps to <6>")
    check(any(l.startswith("<7>DEBUG ") for l in lines), "debug maps to <7>")
    # Without journald: plain "LEVEL component: message"; the config's log_level applies.
    cfg["log_level"] = "warn"
    path = env.write_config(cfg)
    d = env.spawn("plain", [yw.DAEMON, "-c", path])
    time.sleep(2 * yw.SLOW)
    eq(env.stop(d), 0, "exit code")
    out = env.log("plain")
    check("INFO" not in out and "<" not in out.split(" ")[0], "log_level warn hides info lines: %r" % out[:300])


if __name__ == "__main__":
    import sys
    tests = [test_sd_notify_ready_watchdog_stopping, test_sigterm_while_rtu_device_times_out,
             test_sighup_add_change_remove_and_refuse, test_reload_unchanged_keeps_buses,
             test_reload_one_device_restarts_one_bus, test_reload_rtu_waits_for_the_line,
             test_log_levels_and_journal_priorities]
    yw.run([t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
