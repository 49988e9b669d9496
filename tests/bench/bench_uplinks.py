"""bench.py uplinks: three MQTT links, one of them down, alarms toggling.

Figures: the healthy links' alarm latency (simulator set -> event at the
subscriber) p50/p99 against a run with the mqtt link alone; the bytes the
daemon writes per alarm event with three queues; the time the returning
link takes to drain what was queued for it."""
import statistics
import time

import yw
import mqttutil as mu
from yw import wait_for

P = "yardwatch/test-site/gw1"


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs))) - 1))]


def _run(trials, with_links):
    env = yw.Env("bench-uplinks")
    try:
        b0 = env.broker()
        ups = []
        down = None
        if with_links:
            b1, b2 = env.broker(), env.broker()
            ups = [{"id": "water", "brokers": ["mqtt://127.0.0.1:%d" % b1.port],
                    "topic_prefix": "water", "keepalive_s": 5},
                   {"id": "fire", "brokers": ["mqtt://127.0.0.1:%d" % b2.port],
                    "topic_prefix": "fire119", "keepalive_s": 5}]
            down = b1
        cfg, path, sim = mu.setup(env, b0.port, delay_s=0, uplinks=ups)
        cfg["devices"][0]["poll_ms"] = 1000
        cfg["alarms"][0]["clear_delay_s"] = 0
        path = env.write_config(cfg)
        subs = [yw.Sub(b0.port, [P + "/alarm/#"])]
        if with_links:
            subs.append(yw.Sub(b2.port, ["fire119/+/+/alarm/#"]))
        d = env.daemon(path, level="warn")
        time.sleep(3)
        if down:
            env.stop(down)
            time.sleep(0.5)
        lat = [[] for _ in subs]
        w0 = yw.io_wchar(d.pid)
        events = 0
        for i in range(trials):
            for state in ("raised", "cleared"):
                ns = [len(s.all()) for s in subs]
                t0 = time.monotonic()
                env.sim_step(sim, {"set": {"p1.pressure": 0.05 if state == "raised" else 0.35}})
                for k, s in enumerate(subs):
                    wait_for(lambda s=s, n=ns[k]: len(s.all()) > n, 10, state)
                    with s.lock:
                        lat[k].append((s.msgs[ns[k]][3] - t0) * 1000)
                events += 1
            time.sleep(0.137 * (i % 7))
        written = yw.io_wchar(d.pid) - w0
        drain_s = None
        if down:
            st = env.cli_json(path, "status")
            queued = {u["id"]: u["outbox_depth"] for u in st["uplinks"]}["water"]
            t0 = time.monotonic()
            env.broker(port=down.port)

            def water():
                return {u["id"]: u for u in env.cli_json(path, "status")["uplinks"]}["water"]
            wait_for(lambda: water()["connected"], 60, "water reconnected", interval=0.05)
            t1 = time.monotonic()
            wait_for(lambda: water()["outbox_depth"] == 0, 120, "water drained", interval=0.05)
            drain_s = (t1 - t0, time.monotonic() - t1, queued)
        for s in subs:
            s.close()
        env.stop(d)
        return lat, written / max(events, 1), drain_s
    finally:
        env.cleanup()


def uplinks(args):
    trials = max(10, args.trials)
    base, wbase, _ = _run(trials, False)
    lat, wper, drain = _run(trials, True)
    print("uplinks: alarm raised/cleared %d times (%d events), poll 1 s, delay_s 0" %
          (trials, 2 * trials))
    print("  mqtt alone                 p50 %4.0f ms  p99 %4.0f ms   %5.0f bytes written per event"
          % (statistics.median(base[0]), _pct(base[0], 0.99), wbase))
    print("  3 links, water down: mqtt  p50 %4.0f ms  p99 %4.0f ms   %5.0f bytes written per event"
          % (statistics.median(lat[0]), _pct(lat[0], 0.99), wper))
    print("                       fire  p50 %4.0f ms  p99 %4.0f ms" %
          (statistics.median(lat[1]), _pct(lat[1], 0.99)))
    if drain:
        print("  water back: reconnected after %.1f s (its backoff), then %d queued messages "
              "drained in %.2f s" % (drain[0], drain[2], drain[1]))


def fleet(args):
    """N gateways (default 50) on one mosquitto, each polling a pressure
    transmitter every second and sending telemetry every 10 s, with a
    consumer subscribed to everything: the broker's CPU, the gateways'."""
    n = args.gateways
    env = yw.Env("bench-fleet")
    try:
        broker = env.broker()
        sim_port = yw.free_port()
        buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
                  "timeout_ms": 500}]
        devices = [{"id": "p1", "bus": "lan", "unit": 1, "profile": "pressure-transmitter",
                    "poll_ms": 1000, "category": "fire"}]
        paths = []
        for i in range(n):
            cfg = yw.base_config(env, devices, buses, mqtt_port=broker.port, alarms=[])
            cfg["site"] = {"id": "c%02d" % i, "gateway": "gw1"}
            cfg["storage"] = {"path": "%s/gw%02d.db" % (env.dir, i)}
            cfg["control_socket"] = None
            cfg["mqtt"]["telemetry"] = {"interval_s": 10}
            paths.append(env.write_config(cfg, "gw%02d.json" % i))
        env.sim(paths[0], port=sim_port)
        sub = yw.Sub(broker.port, ["yardwatch/#"])
        ds = [env.daemon(p, name="gw%02d" % i, level="warn") for i, p in enumerate(paths)]
        wait_for(lambda: len({t.split("/")[1] for (t, p) in sub.all(lambda t, p: t.endswith("/status"))})
                 >= n, 60, "every gateway online")
        time.sleep(5)
        secs = args.seconds if args.seconds is not None else 30
        b0 = yw.proc_cpu_seconds(broker.pid)
        g0 = sum(yw.proc_cpu_seconds(d.pid) for d in ds)
        m0, t0 = len(sub.all()), time.monotonic()
        time.sleep(secs)
        dt = time.monotonic() - t0
        b1 = yw.proc_cpu_seconds(broker.pid)
        g1 = sum(yw.proc_cpu_seconds(d.pid) for d in ds)
        msgs = len(sub.all()) - m0
        rss = [yw.proc_rss_kb(d.pid) for d in ds]
        print("fleet: %d gateways on one mosquitto, poll 1 s, telemetry 10 s, %.0f s measured" %
              (n, dt))
        print("  mosquitto CPU        %.2f %% of one core (%.0f messages/s to one consumer)" %
              (100 * (b1 - b0) / dt, msgs / dt))
        print("  gateways CPU         %.2f %% of one core each, on average" %
              (100 * (g1 - g0) / dt / n))
        print("  gateway RSS          %.1f MB on average" % (sum(rss) / len(rss) / 1024))
        sub.close()
        for d in ds:
            env.stop(d)
    finally:
        env.cleanup()
