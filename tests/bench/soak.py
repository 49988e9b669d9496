"""The soak benchmark of bench.py: "one accelerated hour" of a compound on
a bad day (alarms toggling, a device faulting, the broker flapping, the
store on a nearly full partition), then every stored event checked against
what the centre received. See docs/bench.md."""
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import yw  # noqa: E402
from yw import wait_for  # noqa: E402

P = "yardwatch/test-site/gw1"
SOAK_FAULTS = ("garbage", "silent", "wrong_unit")


class SoakSub:
    """The centre's subscriber: a persistent session (clean session false, a
    fixed client id, QoS 1) that reconnects on its own whenever the broker
    comes back. Records (wall time, topic, raw payload, retained) of every
    message on P/alarm/# and P/status."""

    def __init__(self, port, client_id):
        import paho.mqtt.client as mqtt
        self.msgs = []
        self.lock = threading.Lock()
        self.up = threading.Event()
        self.connects = 0
        self.c = mqtt.Client(client_id=client_id, clean_session=False)
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda c, u, rc: self.up.clear()
        self.c.on_message = self._on_msg
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not self.up.wait(10):
            raise yw.Failure("the subscriber could not connect to 127.0.0.1:%d" % port)

    def _on_connect(self, c, u, flags, rc):
        if rc == 0:
            self.connects += 1
            c.subscribe([(P + "/alarm/#", 1), (P + "/status", 1)])
            self.up.set()

    def _on_msg(self, c, u, m):
        with self.lock:
            self.msgs.append((time.time(), m.topic, bytes(m.payload), bool(m.retain)))

    def alarm_msgs(self):
        with self.lock:
            return [x for x in self.msgs if x[1].startswith(P + "/alarm/")]

    def status_msgs(self):
        out = []
        with self.lock:
            msgs = [x for x in self.msgs if x[1] == P + "/status"]
        for (t, topic, payload, retained) in msgs:
            try:
                out.append((t, json.loads(payload.decode()), retained))
            except ValueError:
                pass
        return out

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class SoakSampler(threading.Thread):
    """Every 200 ms: the store's footprint (db + wal, and with shm), the free
    space of the partition, the daemon's RSS."""

    def __init__(self, pid, dbf, t0):
        super().__init__(daemon=True)
        self.pid, self.dbf, self.t0 = pid, dbf, t0
        self.stop_ev = threading.Event()
        self.n = 0
        self.max_dbwal = (0, 0.0)       # (bytes, t)
        self.max_all = 0
        self.max_wal = 0
        self.min_free = None
        self.max_rss = 0
        self.last = None

    def size(self, suffix):
        try:
            return os.stat(self.dbf + suffix).st_size
        except OSError:
            return 0

    def sample(self):
        db, wal, shm = self.size(""), self.size("-wal"), self.size("-shm")
        now = time.monotonic() - self.t0
        if db + wal > self.max_dbwal[0]:
            self.max_dbwal = (db + wal, now)
        self.max_all = max(self.max_all, db + wal + shm)
        self.max_wal = max(self.max_wal, wal)
        try:
            st = os.statvfs(os.path.dirname(self.dbf))
            free = st.f_bavail * st.f_frsize
            self.min_free = free if self.min_free is None else min(self.min_free, free)
        except OSError:
            pass
        try:
            self.max_rss = max(self.max_rss, yw.proc_rss_kb(self.pid))
        except OSError:
            pass
        self.last = (db, wal, shm)
        self.n += 1

    def run(self):
        while not self.stop_ev.wait(0.2):
            self.sample()


def soak_mount(d, size_mb):
    os.makedirs(d)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mb, "tmpfs", d],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise yw.Failure("cannot mount a tmpfs (run as root): %s" % r.stderr.decode().strip())


def soak_fill(path, leave_bytes):
    """A filler file that leaves LEAVE_BYTES free on its partition."""
    st = os.statvfs(os.path.dirname(path))
    n = st.f_bavail * st.f_frsize - leave_bytes
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        while n > 0:
            k = min(n, len(chunk))
            f.write(chunk[:k])
            n -= k
    st = os.statvfs(os.path.dirname(path))
    return st.f_bavail * st.f_frsize


def soak_sim(env, config, bus, port):
    """A simulator serving the devices of one bus (a bus is one host:port)."""
    p = env.spawn("sim-" + bus, [yw.SIM, "-c", config, "--profiles", yw.PROFILES, "--control",
                                 "--bus", bus, "--tcp", "127.0.0.1:%d" % port],
                  stdin=subprocess.PIPE)
    yw.wait_port(port)
    p.port = port
    return p


def soak_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def merge_intervals(iv):
    out = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def soak(args):  # noqa: C901 - one scenario, start to end
    """One accelerated hour. For N seconds: poll 200 ms on 7 devices (two
    pressure transmitters with low-pressure alarms, delay_s 0; a relay
    module whose inputs are alarms; four meters on a second bus), alarms
    toggling every 2-6 s, meter m1 faulting now and then (garbage, silent,
    wrong_unit, for 3-10 s), the broker stopped every 30-60 s for 5-15 s and
    restarted on the same port, the store on a small tmpfs that a filler
    leaves nearly full. A subscriber with a persistent session collects
    every alarm event; at the end (broker up, outbox drained) the store's
    events are compared with what it received."""
    seconds = args.seconds if args.seconds is not None else 600
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    rng = random.Random(seed)
    if os.geteuid() != 0:
        print("soak: needs root (it mounts a tmpfs)")
        sys.exit(1)
    print("soak: %.0f s, seed %d (replay: --seed %d); tmpfs %d MB, max_mb %d, %.1f MB left free" %
          (seconds, seed, seed, args.tmpfs_mb, args.max_mb, args.free_mb), flush=True)
    env = yw.Env("bench-soak")
    flash = os.path.join(env.dir, "flash")
    mounted = False
    sub = sampler = d = None
    ok = False
    try:
        soak_mount(flash, args.tmpfs_mb)
        mounted = True
        free0 = soak_fill(os.path.join(flash, "filler"), int(args.free_mb * 1024 * 1024))

        # -- the broker: persistent, so the subscriber's session and what
        # the broker accepted for it survive a stop (SIGTERM) and restart --
        port = yw.free_port()
        persist = os.path.join(env.dir, "broker-db") + "/"
        os.makedirs(persist)
        bconf = os.path.join(env.dir, "mosquitto.conf")
        with open(bconf, "w") as f:
            f.write("%slistener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    "persistence_location %s\nautosave_interval 1\nmax_queued_messages 100000\n"
                    "max_inflight_messages 0\n" % (yw.ROOT_USER, port, persist))
        nbroker = [0]
        up_iv = []          # [wall start, wall end] of each stretch the broker was up

        def start_broker():
            nbroker[0] += 1
            b = env.spawn("mosquitto-%d" % nbroker[0], [yw.MOSQUITTO, "-c", bconf])
            yw.wait_port(port, 10)
            up_iv.append([time.time(), None])
            return b

        def stop_broker(b):
            up_iv[-1][1] = time.time()
            rc = env.stop(b, signal.SIGTERM, timeout=10)
            if rc != 0:
                print("soak: broker exit code %r" % rc, flush=True)

        broker = start_broker()

        # -- devices, alarms, config --
        sim_port, yard_port = yw.free_port(), yw.free_port()
        buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
                  "timeout_ms": 300},
                 {"id": "yard", "type": "tcp", "host": "127.0.0.1", "port": yard_port,
                  "timeout_ms": 300}]
        devices = [
            {"id": "p1", "bus": "lan", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 200,
             "location": "Building 3 pump room", "category": "fire"},
            {"id": "p2", "bus": "lan", "unit": 2, "profile": "pressure-transmitter", "poll_ms": 200,
             "location": "Building 5 roof tank", "category": "water"},
            {"id": "r1", "bus": "lan", "unit": 3, "profile": "relay-8ch", "poll_ms": 200,
             "location": "Gate house", "category": "security"},
        ] + [{"id": "m%d" % i, "bus": "yard", "unit": 10 + i, "profile": "chint-dtsu666",
              "poll_ms": 200, "category": "power"} for i in range(1, 5)]
        alarms = [
            {"id": "p1-low", "point": "p1.pressure", "when": "below", "threshold": 0.10,
             "clear": 0.12, "delay_s": 0, "clear_delay_s": 0, "severity": "critical",
             "category": "fire", "message": "Fire water pressure low, building 3"},
            {"id": "p2-low", "point": "p2.pressure", "when": "below", "threshold": 0.15,
             "clear": 0.18, "delay_s": 0, "clear_delay_s": 0, "severity": "major",
             "category": "water"},
            {"id": "r1-door", "point": "r1.input1", "when": "equals", "value": 1,
             "severity": "warning", "category": "security", "message": "Gate forced"},
            {"id": "r1-tamper", "point": "r1.input2", "when": "equals", "value": 1,
             "severity": "minor", "category": "security"},
        ]
        dbf = os.path.join(flash, "yw.db")
        cfg = yw.base_config(env, devices, buses, mqtt_port=port, alarms=alarms,
                             storage={"path": dbf, "max_mb": args.max_mb})
        cfg["mqtt"]["client_id"] = "yw-bench-soak-gw1"
        path = env.write_config(cfg)
        sim = soak_sim(env, path, "lan", sim_port)
        yard = soak_sim(env, path, "yard", yard_port)
        # the toggles: (what, the control step of each of its two states)
        toggles = [
            ("p1", {"set": {"p1.pressure": 0.35}}, {"set": {"p1.pressure": 0.05}}),
            ("p2", {"set": {"p2.pressure": 0.40}}, {"set": {"p2.pressure": 0.08}}),
            ("r1.input1", {"set": {"r1.input1": False}}, {"set": {"r1.input1": True}}),
            ("r1.input2", {"set": {"r1.input2": False}}, {"set": {"r1.input2": True}}),
        ]
        for t in toggles:
            env.sim_step(sim, t[1])

        sub = SoakSub(port, "yw-bench-soak-centre")
        t_start = time.monotonic()
        d = env.daemon(path, level="warn")
        sampler = SoakSampler(d.pid, dbf, t_start)
        sampler.start()
        yw.wait_for(lambda: [s for (t, s, r) in sub.status_msgs() if s.get("online") is True],
                    20, "the daemon online on MQTT")
        time.sleep(max(0, 10 - (time.monotonic() - t_start)))   # warm-up
        if d.poll() is not None:
            raise yw.Failure("the daemon exited during the warm-up: %r" % d.returncode)
        rss0 = yw.proc_rss_kb(d.pid)
        db0 = sampler.size("")
        cpu0, t0 = yw.proc_cpu_seconds(d.pid), time.monotonic()
        print("soak: warm-up done, daemon RSS %.1f MB; chaos for %.0f s" % (rss0 / 1024, seconds),
              flush=True)

        # -- the run --
        t_end = t0 + seconds
        state = {t[0]: 0 for t in toggles}
        next_toggle = {t[0]: t0 + rng.uniform(1, 6) for t in toggles}
        next_fault = t0 + rng.uniform(10, 30)
        broker_up = True
        next_broker = t0 + rng.uniform(30, 60)
        stats = {"toggles": 0, "faults": {k: 0 for k in SOAK_FAULTS}, "outages": 0,
                 "down_s": 0.0}
        t_down = None
        last_report = t0
        while True:
            now = time.monotonic()
            if now >= t_end:
                break
            for t in toggles:
                if now >= next_toggle[t[0]]:
                    state[t[0]] ^= 1
                    env.sim_step(sim, t[1 + state[t[0]]])
                    stats["toggles"] += 1
                    next_toggle[t[0]] = now + rng.uniform(2, 6)
            if now >= next_fault:
                kind = rng.choice(SOAK_FAULTS)
                env.sim_step(yard, {"fault": {"device": "m1", "kind": kind,
                                             "for_s": round(rng.uniform(3, 10), 1)}})
                stats["faults"][kind] += 1
                next_fault = now + rng.uniform(15, 40)
            if now >= next_broker:
                if broker_up:
                    stop_broker(broker)
                    t_down = time.monotonic()
                    stats["outages"] += 1
                    broker_up = False
                    next_broker = t_down + rng.uniform(5, 15)
                else:
                    broker = start_broker()
                    stats["down_s"] += time.monotonic() - t_down
                    broker_up = True
                    next_broker = time.monotonic() + rng.uniform(30, 60)
            if d.poll() is not None:
                raise yw.Failure("the daemon exited during the run: %r" % d.returncode)
            if now - last_report >= 60:
                last_report = now
                print("soak: t=%.0fs: %d toggles, %d outages, %d alarm messages received, store "
                      "db+wal %.2f MB, RSS %.1f MB" %
                      (now - t0, stats["toggles"], stats["outages"], len(sub.alarm_msgs()),
                       sum(sampler.last[:2]) / 1e6 if sampler.last else 0,
                       yw.proc_rss_kb(d.pid) / 1024), flush=True)
            nxt = min([next_broker, next_fault, t_end] + list(next_toggle.values()))
            time.sleep(max(0.0, min(0.2, nxt - time.monotonic())))
        t_chaos_end = time.monotonic()
        if not broker_up:
            broker = start_broker()
            stats["down_s"] += time.monotonic() - t_down
        env.sim_step(yard, {"fault": {"device": "m1", "kind": "none"}})

        # -- the end: broker up, outbox drained (bounded) --
        drained = True
        t_drain = time.monotonic()
        try:
            yw.wait_for(lambda: env.cli_json(path, "status").get("outbox_depth") == 0, 180,
                        "outbox_depth 0", interval=0.5)
        except yw.Failure as e:
            drained = False
            print("soak: the outbox did not drain: %s" % e, flush=True)
        drain_s = time.monotonic() - t_drain
        cpu1, t1 = yw.proc_cpu_seconds(d.pid), time.monotonic()
        rss1 = yw.proc_rss_kb(d.pid)
        with open("/proc/%d/status" % d.pid) as f:
            hwm = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")][0]

        def stored():
            con = yw.db(dbf)
            try:
                return {s: js for s, js in con.execute("SELECT seq, json FROM events ORDER BY seq")}
            finally:
                con.close()

        def received_seqs():
            out = set()
            for (t, topic, payload, r) in sub.alarm_msgs():
                try:
                    out.add(json.loads(payload.decode())["seq"])
                except (ValueError, KeyError, TypeError):
                    pass
            return out
        # what the broker accepted is owed to the subscriber: give it a bounded while
        try:
            yw.wait_for(lambda: set(stored()) <= received_seqs(), 30, "every stored event received",
                        interval=0.5)
        except yw.Failure:
            pass
        time.sleep(2)   # late duplicates
        sampler.stop_ev.set()
        sampler.join(5)
        st = env.cli_json(path, "status")
        store = stored()
        msgs = sub.alarm_msgs()
        t_wall_end = time.time()
        up_iv[-1][1] = t_wall_end

        # -- the figures --
        first = {}          # seq -> (wall time of first receipt, payload)
        order = []
        dups = retained = bad = 0
        differ = []
        for (t, topic, payload, r) in msgs:
            if r:
                retained += 1
            try:
                ev = json.loads(payload.decode())
                seq = ev["seq"]
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if seq in first:
                dups += 1
                if first[seq][1] != payload:
                    differ.append(seq)
                continue
            first[seq] = (t, payload)
            order.append(seq)
        missing = sorted(set(store) - set(first))
        not_stored = sorted(set(first) - set(store))
        mismatch = sorted(s for s in set(store) & set(first) if first[s][1] != store[s].encode())
        inversions = sum(1 for a, b in zip(order, order[1:]) if b < a)
        seqs = sorted(store)
        gaps = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]

        # delivery stalls: an event's ts -> its first receipt; and the
        # longest stretch with the broker up while some event waited
        events = {}
        for s, js in store.items():
            events[s] = soak_ts(json.loads(js)["ts"])
        for s, (t, payload) in first.items():
            if s not in events:
                events[s] = soak_ts(json.loads(payload.decode())["ts"])
        delay = {s: (first[s][0] if s in first else t_wall_end) - ts for s, ts in events.items()}

        def in_up(ts):
            return any(a <= ts <= (b or t_wall_end) for a, b in up_iv)
        worst = max(delay.items(), key=lambda kv: kv[1]) if delay else (None, 0)
        up_delays = {s: v for s, v in delay.items() if in_up(events[s])}
        worst_up = max(up_delays.items(), key=lambda kv: kv[1]) if up_delays else (None, 0)
        waiting = merge_intervals([[ts, ts + delay[s]] for s, ts in events.items()])
        gap = (0.0, None)
        for a, b in waiting:
            for u0, u1 in up_iv:
                lo, hi = max(a, u0), min(b, u1)
                if hi - lo > gap[0]:
                    gap = (hi - lo, lo)
        wall0 = time.time() - (time.monotonic() - t0)   # wall time of the run's start
        store_fail = sum(1 for (t, s, r) in sub.status_msgs() if not r and s.get("store") == "failing")
        log = env.log("daemon")
        warn_lines = [ln for ln in log.splitlines() if "WARN" in ln.upper() or "ERROR" in ln.upper()]
        kinds = {}
        for ln in warn_lines:
            k = " ".join(ln.split()[:3])[:60]
            kinds[k] = kinds.get(k, 0) + 1
        by_state, by_alarm = {}, {}
        for js in store.values():
            ev = json.loads(js)
            by_state[ev["state"]] = by_state.get(ev["state"], 0) + 1
            by_alarm[ev["alarm"]] = by_alarm.get(ev["alarm"], 0) + 1
        db1 = sampler.size("")
        up_ms = sorted(1000 * v for v in up_delays.values())

        run_s = t_chaos_end - t0
        print("soak: %.0f s of chaos (seed %d), then %.1f s to drain; %d devices at poll 200 ms" %
              (run_s, seed, drain_s, len(devices)))
        print("  daemon RSS           %.1f MB after the 10 s warm-up, %.1f MB at the end "
              "(peak VmHWM %.1f MB, max sampled %.1f MB)" %
              (rss0 / 1024, rss1 / 1024, hwm / 1024, sampler.max_rss / 1024))
        print("  daemon CPU           %.2f %% of one core over the run and the drain" %
              (100 * (cpu1 - cpu0) / (t1 - t0)))
        print("  alarm toggles        %d; m1 faults %s; broker outages %d (%.0f s down in all)" %
              (stats["toggles"], " ".join("%s %d" % kv for kv in stats["faults"].items()),
               stats["outages"], stats["down_s"]))
        print("  events stored        %d (%s), seqs %s..%s%s" %
              (len(store), ", ".join("%s %d" % kv for kv in sorted(by_state.items())),
               seqs[0] if seqs else "-", seqs[-1] if seqs else "-",
               ", gaps %r" % gaps[:10] if gaps else ", no gap"))
        print("  events by alarm      %s" % ", ".join("%s %d" % kv for kv in sorted(by_alarm.items())))
        print("  events received      %d distinct, %d duplicates (%d alarm messages), %d retained, "
              "%d unparsable" % (len(first), dups, len(msgs), retained, bad))
        print("  events missing       %d%s" % (len(missing), " seqs %r" % missing[:30] if missing else ""))
        if not_stored:
            print("  received, not stored %d seqs %r" % (len(not_stored), not_stored[:30]))
        if mismatch or differ:
            print("  payload differs      from the store: %r; between copies: %r" %
                  (mismatch[:20], differ[:20]))
        print("  first deliveries     %s" % ("in seq order" if not inversions else
                                             "%d out of seq order" % inversions))
        print("  longest stall        %.1f s from an event's ts to its first receipt (seq %s, "
              "t=%.0fs)" % (worst[1], worst[0], events[worst[0]] - wall0 if worst[0] else 0))
        if up_ms:
            print("  ts in broker-up time %d events: ts -> first receipt p50 %.0f ms, max %.0f ms "
                  "(seq %s, t=%.0fs)" % (len(up_ms), statistics.median(up_ms), up_ms[-1],
                                         worst_up[0], events[worst_up[0]] - wall0))
        print("  longest gap          %.1f s with the broker up and a stored event waiting (t=%.0fs)" %
              (gap[0], (gap[1] - wall0) if gap[1] else 0))
        print("  store footprint      db+wal max %.2f MB (wal max %.2f MB; +shm %.2f MB) of max_mb %d; "
              "%d samples every 200 ms; db_bytes at the end %.2f MB" %
              (sampler.max_dbwal[0] / 1e6, sampler.max_wal / 1e6, sampler.max_all / 1e6, args.max_mb,
               sampler.n, (st.get("db_bytes") or 0) / 1e6))
        print("  store at the end     file %.2f MB, wal %.2f MB, shm %.2f MB (file %.2f MB after the "
              "warm-up)" % (db1 / 1e6, sampler.size("-wal") / 1e6, sampler.size("-shm") / 1e6,
                            db0 / 1e6))
        print("  partition            %d MB tmpfs, %.2f MB free after the filler, %.2f MB at the "
              "fullest; P/status store failing %d times" %
              (args.tmpfs_mb, free0 / 1e6, (sampler.min_free or 0) / 1e6, store_fail))
        print("  broker outages       %d; subscriber connects %d; outbox drained %s" %
              (stats["outages"], sub.connects, "yes" if drained else "NO"))
        print("  daemon warn/error    %d lines%s" % (len(warn_lines), "".join(
            "\n    %5d  %s" % (n, k) for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:8])))

        sub.close()
        sub = None
        rc = env.stop(d)
        lost = "lost with this process" in env.log("daemon")
        print("  daemon stop          exit %r%s" % (rc, "; held events lost at the stop" if lost else ""))
        for p in env.procs:
            if p.poll() is None:
                env.stop(p)
        ok = not missing and drained
        if not ok:
            print("soak: FAILED: %d events missing%s" % (len(missing), "" if drained else
                                                          ", the outbox did not drain"))
    except Exception:
        print("soak: failed (seed %d); daemon log tail:\n%s" % (seed, env.log("daemon")[-3000:]),
              flush=True)
        raise
    finally:
        if sampler:
            sampler.stop_ev.set()
        if sub:
            sub.close()
        env.cleanup(keep=True)          # every process it started, by PID
        if mounted:
            r = subprocess.run(["umount", flash], capture_output=True, timeout=30)
            if r.returncode != 0:
                r = subprocess.run(["umount", "-l", flash], capture_output=True, timeout=30)
                if r.returncode != 0:
                    print("soak: cannot unmount %s: %s" % (flash, r.stderr.decode().strip()))
        if args.keep or not ok:
            print("soak: logs kept in %s" % env.dir)
        else:
            shutil.rmtree(env.dir, ignore_errors=True)
    if not ok:
        sys.exit(1)
