#!/usr/bin/env python3
"""yardwatch benchmarks. Prints figures; not part of pass/fail.

  python3 tests/bench/bench.py poll     [--seconds 60]   100 devices / 1000 points at 1 s
  python3 tests/bench/bench.py latency  [--trials 50]    simulator set -> subscriber, p50/p99
  python3 tests/bench/bench.py drain    [--events 10000] outbox drain after an outage
  python3 tests/bench/bench.py http     [--seconds 60]   the poll workload without the status page,
                                                          with it idle, with /metrics scraped every 1 s
  python3 tests/bench/bench.py soak     [--seconds 600]  "one accelerated hour": alarms, faults,
                                                          a flapping broker, a nearly full disk (root)
  python3 tests/bench/bench.py uplinks  [--trials 50]    three links, one down: latency of the
                                                          healthy ones, bytes per event, drain
  python3 tests/bench/bench.py fleet    [--gateways 50]  gateways on one mosquitto: its CPU
  python3 tests/bench/bench.py all                        poll, latency, drain (not soak)

Run from a built tree (YW_BIN defaults to ./build). Everything on 127.0.0.1."""
import argparse
import os
import sqlite3
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import yw  # noqa: E402
from yw import wait_for  # noqa: E402
from soak import soak  # noqa: E402,F401 - called by name from main()
from bench_uplinks import uplinks, fleet  # noqa: E402,F401 - called by name from main()

P = "yardwatch/test-site/gw1"


def bench_devices(n):
    devs = []
    for i in range(n):
        devs.append({"id": "d%03d" % i, "bus": "lan", "unit": i % 247 + 1, "poll_ms": 1000, "points": [
            {"name": "u%d" % k, "table": "holding", "address": k, "type": "uint16"} for k in range(4)
        ] + [
            {"name": "f%d" % k, "table": "holding", "address": 10 + 2 * k, "type": "float32",
             "unit": ("V", "A")[k]} for k in range(2)
        ] + [
            {"name": "c%d" % k, "table": "coil", "address": k, "type": "bool"} for k in range(4)
        ]})
    return devs


io_wchar = yw.io_wchar


def poll(args):
    env = yw.Env("bench-poll")
    try:
        port = yw.free_port()
        buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 500}]
        devices = bench_devices(100)
        cfg = yw.base_config(env, devices, buses)
        path = env.write_config(cfg)
        sim = env.sim(path, port=port)
        d = env.daemon(path, level="warn")
        time.sleep(5)   # warm-up: first polls, schema, caches
        dbf = cfg["storage"]["path"]

        def rows():
            con = yw.db(dbf)
            try:
                return con.execute("SELECT count(*) FROM readings_all").fetchone()[0]
            finally:
                con.close()
        cpu0, w0, r0, t0 = yw.proc_cpu_seconds(d.pid), io_wchar(d.pid), rows(), time.monotonic()
        st0 = yw.wait_for(lambda: env.sim_stats(sim), 5, "sim stats")["requests_total"]
        time.sleep(args.seconds if args.seconds is not None else 60)
        cpu1, w1, r1, t1 = yw.proc_cpu_seconds(d.pid), io_wchar(d.pid), rows(), time.monotonic()
        st1 = env.sim_stats(sim)["requests_total"]
        rss = yw.proc_rss_kb(d.pid)
        devs = env.cli_json(path, "devices")
        dt = t1 - t0
        polls_per_s = 100 * 1.0
        req_per_cycle = (st1 - st0) / dt / polls_per_s * 100
        print("poll: 100 devices, 1000 points, poll 1 s, %.0f s measured" % dt)
        print("  daemon CPU           %.2f %% of one core" % (100 * (cpu1 - cpu0) / dt))
        print("  daemon RSS           %.1f MB" % (rss / 1024))
        print("  requests per cycle   %.0f (one request per point: 1000)" % req_per_cycle)
        print("  readings stored      %.0f /s (200 float points drift every poll, 800 steady; deadband 0)" % ((r1 - r0) / dt))
        print("  store writes         %.1f MB/hour (bytes written by the daemon, WAL + db)" % ((w1 - w0) / dt * 3600 / 1e6))
        print("  devices online       %d/100" % sum(1 for x in devs if x["state"] == "online"))
        env.stop(d)
    finally:
        env.cleanup()


def latency(args):
    env = yw.Env("bench-lat")
    try:
        import mqttutil as mu
        broker = env.broker()
        cfg, path, sim = mu.setup(env, broker.port, delay_s=0)
        cfg["devices"][0]["poll_ms"] = 1000
        cfg["alarms"][0]["clear_delay_s"] = 0
        path = env.write_config(cfg)
        sub = yw.Sub(broker.port, [P + "/alarm/#"])
        d = env.daemon(path, level="warn")
        time.sleep(3)
        lat = []
        for i in range(args.trials):
            n = len(sub.all())
            t0 = time.monotonic()
            env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
            wait_for(lambda: len(sub.all()) > n, 10, "raised")
            with sub.lock:
                t_recv = sub.msgs[n][3]
            lat.append((t_recv - t0) * 1000)
            n = len(sub.all())
            env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
            wait_for(lambda: len(sub.all()) > n, 10, "cleared")
            time.sleep(0.137 * (i % 7))   # vary the phase against the poll timer
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(round(0.99 * len(lat))) - 1)]
        print("latency: simulator set -> raised event at the subscriber, delay_s 0, poll 1 s, %d trials" % len(lat))
        print("  p50 %.0f ms   p99 %.0f ms   max %.0f ms   (target p99 <= 1100 ms)" %
              (statistics.median(lat), p99, lat[-1]))
        sub.close()
        env.stop(d)
    finally:
        env.cleanup()


def drain(args):  # noqa: C901
    """Queue N alarm events while the broker is down (500 alarms on the coils
    of 50 devices, all toggled together), bring the broker back and time the
    drain; during the drain raise a new fire alarm and time its delivery."""
    env = yw.Env("bench-drain")
    ok = False
    try:
        import mqttutil as mu
        port = yw.free_port()
        extra = [{"id": "k%02d" % i, "bus": "lan", "unit": 10 + i, "poll_ms": 200, "points": [
            {"name": "c%d" % k, "table": "coil", "address": k, "type": "bool"} for k in range(10)]}
            for i in range(50)]
        alarms = [{"id": "p1-low", "point": "p1.pressure", "when": "below", "threshold": 0.1,
                   "severity": "critical", "category": "fire"}]
        alarms += [{"id": "k%02d-c%d" % (i, k), "point": "k%02d.c%d" % (i, k), "when": "equals",
                    "value": 1, "severity": "warning", "category": "security"}
                   for i in range(50) for k in range(10)]
        cfg, path, sim = mu.setup(env, port, alarms=alarms, extra_devices=extra)
        cfg["devices"][0]["poll_ms"] = 200
        path = env.write_config(cfg)
        d = env.daemon(path, level="warn")
        dbf = cfg["storage"]["path"]

        wait_for(lambda: os.path.exists(dbf), 10, "the store")
        time.sleep(1)

        def depth():
            con = yw.db(dbf)
            try:
                return con.execute("SELECT count(*) FROM outbox").fetchone()[0]
            except sqlite3.Error:
                return 0
            finally:
                con.close()
        t_fill = time.monotonic()
        flip = 0
        while depth() < args.events:
            flip ^= 1
            for i in range(50):
                env.sim_step(sim, {"set": {"k%02d.c%d" % (i, k): bool(flip) for k in range(10)}})
            target = min(args.events, depth() + 400)
            try:
                wait_for(lambda: depth() >= target, 60, "events queued", interval=0.2)
            except yw.Failure:
                pass
            if time.monotonic() - t_fill > 600:
                break
        time.sleep(1.5)
        queued = depth()
        print("drain: %d events queued in %.0f s; starting the broker" % (queued, time.monotonic() - t_fill),
              flush=True)
        fill_s = time.monotonic() - t_fill
        broker = env.broker(port=port)
        sub = yw.Sub(port, [P + "/alarm/#", P + "/status"])
        on = sub.wait(lambda t, p: t == P + "/status" and isinstance(p, dict) and p.get("online"), 60,
                      "the daemon back online")
        with sub.lock:
            t0 = [m[3] for m in sub.msgs if m[0] == P + "/status"][-1]
        wait_for(lambda: len(sub.all(lambda t, p: "/alarm/" in t)) >= 200, 60, "the drain under way")
        t_new = time.monotonic()
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        got = wait_for(lambda: [m for m in list(sub.msgs) if isinstance(m[1], dict) and m[1].get("alarm") == "p1-low"],
                       60, "the new alarm")
        new_lat = (got[0][3] - t_new) * 1000
        print("drain: new alarm after %.0f ms" % new_lat, flush=True)
        wait_for(lambda: depth() == 0, 600, "outbox drained", interval=0.2)
        t_done = time.monotonic()
        print("drain: %d alarm events queued during an outage (%.0f s to queue)" % (queued, fill_s))
        print("  all acknowledged %.1f s after the broker returned (%.0f events/s)" %
              (t_done - t0, queued / max(0.001, t_done - t0)))
        print("  a new fire alarm raised during the drain reached the subscriber in %.0f ms "
              "(includes up to one 200 ms poll; target < 1000 ms)" % new_lat)
        sub.close()
        env.stop(d)
        del broker
        ok = True
    finally:
        if not ok:
            print("drain: failed; daemon log tail:\n" + env.log("daemon")[-3000:])
        env.cleanup()


def http(args):
    """The poll workload (100 devices, 1,000 points, 1 s) three times: without
    an http section, with the status page idle, and with /metrics scraped
    every second (and / every 10 s, as a phone on the page would): the
    daemon's CPU and RSS each time, and the scrapes' time and size."""
    import urllib.request
    seconds = args.seconds if args.seconds is not None else 60
    rows = []
    for mode in ("off", "idle", "scraped"):
        env = yw.Env("bench-http")
        try:
            port = yw.free_port()
            hport = yw.free_port()
            buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 500}]
            extra = {} if mode == "off" else {"http": {"listen": "127.0.0.1:%d" % hport}}
            cfg = yw.base_config(env, bench_devices(100), buses, **extra)
            path = env.write_config(cfg)
            env.sim(path, port=port)
            d = env.daemon(path, level="warn")
            time.sleep(5)
            cpu0, t0 = yw.proc_cpu_seconds(d.pid), time.monotonic()
            took, size, n = [], 0, 0
            while time.monotonic() - t0 < seconds:
                tick = time.monotonic()
                if mode == "scraped":
                    for url in ["/metrics"] + (["/"] if n % 10 == 0 else []):
                        a = time.monotonic()
                        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (hport, url),
                                                    timeout=10) as r:
                            body = r.read()
                        if url == "/metrics":
                            took.append((time.monotonic() - a) * 1000)
                            size = len(body)
                    n += 1
                time.sleep(max(0, 1 - (time.monotonic() - tick)))
            cpu1, t1 = yw.proc_cpu_seconds(d.pid), time.monotonic()
            rows.append((mode, 100 * (cpu1 - cpu0) / (t1 - t0), yw.proc_rss_kb(d.pid) / 1024,
                         sorted(took), size))
            env.stop(d)
        finally:
            env.cleanup()
    print("http: 100 devices, 1000 points, poll 1 s, %.0f s measured each" % seconds)
    for mode, cpu, rss, took, size in rows:
        line = "  %-8s daemon CPU %5.2f %% of one core   RSS %5.1f MB" % (mode, cpu, rss)
        if took:
            line += "   /metrics %d bytes, p50 %.1f ms, max %.1f ms" % (
                size, statistics.median(took), took[-1])
        print(line)


# ---------------------------------------------------------------- soak ----


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["poll", "latency", "drain", "soak", "uplinks", "fleet", "http",
                                     "all"])
    ap.add_argument("--seconds", type=float, default=None, help="poll, http: 60, soak: 600")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--gateways", type=int, default=50, help="fleet: gateways on one broker")
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=None, help="soak: the schedule's seed")
    ap.add_argument("--tmpfs-mb", type=int, default=24, help="soak: the store's partition")
    ap.add_argument("--max-mb", type=int, default=16, help="soak: storage.max_mb")
    ap.add_argument("--free-mb", type=float, default=2, help="soak: left free by the filler")
    ap.add_argument("--keep", action="store_true", help="soak: keep the logs")
    args = ap.parse_args()
    for w in (["poll", "latency", "drain"] if args.what == "all" else [args.what]):
        globals()[w](args)


if __name__ == "__main__":
    main()
