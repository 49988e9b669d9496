"""The kill loop: the daemon is SIGKILLed at random moments, again and again,
while alarms toggle (threshold alarms on several devices flipped across
their thresholds with delay_s 0 / clear_delay_s 0, devices taken offline and
back so their offline alarms raise and clear, now and then an ack on
P/cmd/ack), and while the broker is paused (SIGSTOP) for a stretch and
stopped and restarted on the same port for another; the daemon is restarted
after every kill. Then, with the broker up and the last daemon running until
its outbox is empty, a subscriber that was there all along (persistent
session: clean session false, a fixed client id, QoS 1; it reconnects when
the broker comes back) must have received:

  - every event of the store, byte for byte the JSON the store holds;
  - on first delivery, in seq order (duplicates later are allowed:
    delivery is at-least-once);
  - nothing the store does not hold, and no seq with two payloads;
and the store's seqs run 1..N without a gap, and each alarm's events
alternate raised / cleared (acked only while raised) in seq order, with the
alarm_state table agreeing with each alarm's last event.

The run is seeded; the seed is printed. Replay with YW_KILL_SEED=N (and
YW_KILLS=N for the number of kills, default 40).

The broker's stop is a SIGTERM (with persistence), not a SIGKILL: the
subscriber's session and the messages queued for it must survive the
broker's restart, or the test would measure mosquitto's autosave rather
than the gateway. Everything the broker accepted (PUBACK) before it stopped
is therefore still owed to the subscriber; everything it did not accept is
still in the gateway's outbox."""
import json
import os
import random
import signal
import sqlite3
import threading
import time

import yw
from yw import check, eq, wait_for, Failure
from mqttutil import P

N_DEV = 3
LOW, HIGH = 0.05, 0.35


class DurableSub:
    """A subscriber with a persistent session (clean session false, a fixed
    client id, QoS 1) that reconnects on its own whenever the broker comes
    back. Records (topic, raw payload) of every message, in arrival order."""

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
        # keepalive well past the SIGSTOP stretch: the session must not be
        # dropped by the paused broker's keepalive check either way.
        self.c.connect("127.0.0.1", port, keepalive=60)
        self.c.loop_start()
        if not self.up.wait(10 * yw.SLOW):
            raise Failure("subscriber could not connect")

    def _on_connect(self, c, u, flags, rc):
        if rc == 0:
            self.connects += 1
            c.subscribe([(P + "/alarm/#", 1), (P + "/status", 1)])
            self.up.set()

    def _on_msg(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, bytes(m.payload), bool(m.retain)))

    def alarm_msgs(self):
        with self.lock:
            return [(t, p) for (t, p, r) in self.msgs if t.startswith(P + "/alarm/")]

    def status_msgs(self):
        """P/status as published while we were subscribed (not the retained
        copy a re-subscription brings back)."""
        with self.lock:
            out = []
            for t, p, r in self.msgs:
                if t == P + "/status" and not r:
                    try:
                        out.append(json.loads(p.decode()))
                    except ValueError:
                        pass
            return out

    def publish(self, topic, obj):
        self.c.publish(topic, json.dumps(obj), qos=1)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def write_broker_conf(env, port):
    persist = os.path.join(env.dir, "broker-db") + "/"
    os.makedirs(persist, exist_ok=True)
    conf = os.path.join(env.dir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("%slistener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                "persistence_location %s\nautosave_interval 1\nmax_queued_messages 100000\n"
                "max_inflight_messages 0\n" % (yw.ROOT_USER, port, persist))
    return conf


def store_events(dbpath):
    con = yw.db(dbpath)
    try:
        rows = con.execute("SELECT seq, alarm, state, json FROM events ORDER BY seq").fetchall()
        states = {r[0]: r[1:] for r in con.execute(
            "SELECT alarm, active, acked, seq FROM alarm_state").fetchall()}
    finally:
        con.close()
    return rows, states


@yw.with_env("killloop")
def test_kill_loop(env):
    seed = int(os.environ.get("YW_KILL_SEED") or (time.time_ns() % 1000000007))
    kills = int(os.environ.get("YW_KILLS") or 40)
    print("killloop: seed %d, %d kills (replay: YW_KILL_SEED=%d YW_KILLS=%d)" %
          (seed, kills, seed, kills), flush=True)
    rng = random.Random(seed)
    t_start = time.monotonic()

    port = yw.free_port()
    conf = write_broker_conf(env, port)
    nbroker = [0]

    def start_broker():
        nbroker[0] += 1
        b = env.spawn("mosquitto-%d" % nbroker[0], [yw.MOSQUITTO, "-c", conf])
        yw.wait_port(port)
        return b
    broker = start_broker()

    sim_port = yw.free_port()
    # Short timeouts, no retry: a silent device holds the bus up briefly.
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
              "timeout_ms": 150, "retries": 0}]
    devices = [{"id": "p%d" % i, "bus": "lan", "unit": i, "profile": "pressure-transmitter",
                "poll_ms": 100, "offline_after": 2, "category": "fire"}
               for i in range(1, N_DEV + 1)]
    alarms = [{"id": "p%d-low" % i, "point": "p%d.pressure" % i, "when": "below",
               "threshold": 0.10, "clear": 0.12, "delay_s": 0, "clear_delay_s": 0,
               "severity": "critical", "category": "fire"} for i in range(1, N_DEV + 1)]
    cfg = yw.base_config(env, devices, buses, mqtt_port=port, alarms=alarms)
    cfg["mqtt"]["telemetry"] = {"interval_s": 1}
    path = env.write_config(cfg)
    dbpath = cfg["storage"]["path"]
    sim = env.sim(path, port=sim_port)
    low = {i: False for i in range(1, N_DEV + 1)}
    offline = {i: False for i in range(1, N_DEV + 1)}
    env.sim_step(sim, {"set": {"p%d.pressure" % i: HIGH for i in low}})

    sub = DurableSub(port, "yw-killloop-%d" % os.getpid())
    # The broker's phases, each at a random moment inside a kill cycle, so
    # a running daemon sees the broker go and come back: paused (SIGSTOP)
    # from cycle pause_at to cont_at, the daemon of cycle pause_at living
    # long enough for its keepalive to give up on the paused broker;
    # stopped (SIGTERM) from down_at to up_at, then restarted on the same
    # port, the daemon of cycle up_at living long enough to reconnect.
    pause_at, cont_at = kills // 5, kills // 5 + 6
    down_at, up_at = kills // 2 + 2, kills // 2 + 7
    broker_state = "up"
    stats = {"toggles": 0, "acks": 0, "kills": 0, "early_kills": 0}
    daemon = None

    def broker_step(cycle):
        nonlocal broker, broker_state
        if cycle == pause_at:
            os.kill(broker.pid, signal.SIGSTOP)
            broker_state = "paused"
        elif cycle == cont_at:
            os.kill(broker.pid, signal.SIGCONT)
            broker_state = "up"
        elif cycle == down_at:
            eq(env.stop(broker, signal.SIGTERM), 0, "broker exit code")
            broker_state = "down"
        elif cycle == up_at:
            broker = start_broker()
            broker_state = "up"

    try:
        for cycle in range(kills):
            daemon = env.daemon(path, name="daemon-%02d" % cycle, level="info")
            t0 = time.monotonic()
            # Now and then a kill within the first moments (store open,
            # alarm states loaded, first polls, connect and the outbox's
            # first burst); otherwise anywhere in 0.2..2 s.
            if cycle == pause_at:
                life = rng.uniform(11, 12)     # keepalive 5 s: lost after ~7.5..10 s
            elif cycle == up_at:
                life = rng.uniform(3.5, 4.5)   # reconnect backoff 1 s, 2 s
            elif rng.random() < 0.2:
                life = rng.uniform(0.02, 0.3)
                stats["early_kills"] += 1
            else:
                life = rng.uniform(0.2, 2.0)
            end = t0 + life
            broker_due = None
            if cycle in (pause_at, cont_at, down_at, up_at):
                broker_due = t0 + (rng.uniform(0.5, 1.5) if cycle in (pause_at, up_at)
                                   else rng.uniform(0, life))
            while True:
                now = time.monotonic()
                if broker_due is not None and now >= broker_due:
                    broker_step(cycle)
                    broker_due = None
                    continue
                if now >= end:
                    break
                nxt = min(end, broker_due) if broker_due is not None else end
                time.sleep(min(nxt - now, rng.uniform(0.03, 0.25)))
                if broker_due is not None and time.monotonic() >= broker_due:
                    continue
                if time.monotonic() >= end and rng.random() < 0.5:
                    break   # sometimes the kill right after a toggle, sometimes not
                r = rng.random()
                i = rng.randint(1, N_DEV)
                if r < 0.7:
                    low[i] = not low[i]
                    env.sim_step(sim, {"set": {"p%d.pressure" % i: LOW if low[i] else HIGH}})
                elif r < 0.93:
                    offline[i] = not offline[i]
                    env.sim_step(sim, {"offline" if offline[i] else "online": "p%d" % i})
                elif broker_state == "up" and sub.up.is_set():
                    alarm = rng.choice(["p%d-low" % i, "p%d.offline" % i])
                    sub.publish(P + "/cmd/ack", {"id": "ack-%d" % stats["acks"], "alarm": alarm,
                                                 "by": "killloop"})
                    stats["acks"] += 1
                stats["toggles"] += 1
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait(5)
            stats["kills"] += 1
            if cycle in (pause_at, up_at):
                mq = [l for l in env.log(daemon.yw_name).splitlines() if " mqtt: " in l]
                print("killloop: cycle %d (%s), the daemon's link: %s" %
                      (cycle, "broker paused" if cycle == pause_at else "broker restarted",
                       " | ".join(l.split(" mqtt: ", 1)[1] for l in mq[-4:])), flush=True)
        t_chaos = time.monotonic() - t_start
        print("killloop: %d kills (%d early), %d toggles, %d acks sent in %.1fs" %
              (stats["kills"], stats["early_kills"], stats["toggles"], stats["acks"], t_chaos),
              flush=True)

        # The end: the broker up, every device answering with its pressure
        # normal (the alarms clear), one daemon left running until its
        # outbox is empty and nothing new arrives.
        if broker_state == "paused":
            os.kill(broker.pid, signal.SIGCONT)
        elif broker_state == "down":
            broker = start_broker()
        check(sub.up.wait(10 * yw.SLOW), "the subscriber is connected again")
        for i in low:
            if offline[i]:
                env.sim_step(sim, {"online": "p%d" % i})
        env.sim_step(sim, {"set": {"p%d.pressure" % i: HIGH for i in low}})
        daemon = env.daemon(path, name="daemon-final", level="info")
        t_drain = time.monotonic()

        def drained():
            st = env.cli_json(path, "status")
            if st.get("outbox_depth") != 0:
                return False
            rows, _ = store_events(dbpath)
            if not rows:
                return False
            # every alarm back to normal, and nothing new for 3 s
            last_rows = {}
            for seq, alarm, state, js in rows:
                last_rows[alarm] = state
            if any(s != "cleared" for s in last_rows.values()):
                return False
            msgs = sub.alarm_msgs()
            n = len(msgs)
            time.sleep(3)
            return (env.cli_json(path, "status").get("outbox_depth") == 0 and
                    len(sub.alarm_msgs()) == n and len(store_events(dbpath)[0]) == len(rows))
        wait_for(drained, 60, "the outbox drained and the alarms cleared", interval=0.3)
        print("killloop: drained in %.1fs" % (time.monotonic() - t_drain), flush=True)
        # P/status is published on every connect (and every 60 s): restart
        # the broker once more and the running daemon, reconnecting, says
        # its outbox is empty.
        nstat = len(sub.status_msgs())
        nmsg = len(sub.alarm_msgs())
        eq(env.stop(broker, signal.SIGTERM), 0, "broker exit code")
        broker = start_broker()
        st = wait_for(lambda: [s for s in sub.status_msgs()[nstat:] if s.get("online") is True
                               and "outbox" in s], 15, "P/status online after the reconnect")[-1]
        eq(st.get("outbox"), 0, 'P/status "outbox" after the drain')
        time.sleep(1)
        eq(sub.alarm_msgs()[nmsg:], [], "no alarm event sent after the drain")
        eq(env.stop(daemon), 0, "the last daemon's exit code (SIGTERM)")

        # ---- the checks ----
        rows, alarm_state = store_events(dbpath)
        msgs = sub.alarm_msgs()
        with sub.lock:
            retained = [t for (t, p, r) in sub.msgs if r and t.startswith(P + "/alarm/")]
        eq(retained, [], "alarm events are never retained")
        print("killloop: %d events in the store, %d alarm messages received (%d broker "
              "connects of the subscriber)" % (len(rows), len(msgs), sub.connects), flush=True)
        check(len(rows) >= 2 * kills, "enough events to mean something: %d" % len(rows))
        store = {seq: js for seq, alarm, state, js in rows}

        # seqs run 1..N: nothing skipped, nothing reused
        seqs = [r[0] for r in rows]
        eq(seqs, list(range(1, len(seqs) + 1)), "the store's seqs run 1..N without a gap")

        # the CLI shows the same events
        cli = env.cli_json(dbpath, "alarms")
        eq(sorted(e["seq"] for e in cli), seqs, "yardwatch alarms --json lists every event")
        for e in cli:
            if e != json.loads(store[e["seq"]]):
                raise Failure("yardwatch alarms: seq %d differs from the store: %r vs %s" %
                              (e["seq"], e, store[e["seq"]]))

        # what the subscriber got: each seq one payload, the store's; first
        # deliveries in seq order
        got = {}
        first = []
        for topic, payload in msgs:
            try:
                ev = json.loads(payload.decode())
            except ValueError:
                raise Failure("not JSON on %s: %r" % (topic, payload))
            seq = ev.get("seq")
            check(isinstance(seq, int), "an event without seq on %s: %r" % (topic, payload))
            eq(topic, P + "/alarm/%s/%s" % (ev["category"], ev["alarm"]), "topic of seq %d" % seq)
            if seq in got:
                if got[seq] != payload:
                    raise Failure("seq %d received with two payloads:\n  %s\n  %s" %
                                  (seq, got[seq].decode(), payload.decode()))
                continue
            got[seq] = payload
            first.append(seq)
        invented = sorted(set(got) - set(store))
        check(not invented, "received events the store does not hold (lost from the store or "
              "invented): seqs %r" % invented[:20])
        missing = sorted(set(store) - set(got))
        check(not missing, "events of the store never received: seqs %r" % missing[:20])
        for seq, js in store.items():
            if got[seq] != js.encode():
                raise Failure("seq %d: received JSON differs from the store's:\n  got   %s\n"
                              "  store %s" % (seq, got[seq].decode(), js))
        for a, b in zip(first, first[1:]):
            if b < a:
                k = first.index(b)
                raise Failure("first deliveries out of seq order: %d before %d (around: %r)" %
                              (a, b, first[max(0, k - 8):k + 4]))
        dups = len(msgs) - len(got)

        # each alarm: raised, (acked), cleared, raised, ... in seq order
        active = {}
        last = {}
        counts = {"raised": 0, "cleared": 0, "acked": 0}
        for seq, alarm, state, js in rows:
            ev = json.loads(js)
            eq((ev["alarm"], ev["state"], ev["event_id"]), (alarm, state, "gw1-%d" % seq),
               "event row %d" % seq)
            counts[state] += 1
            was = active.get(alarm, False)
            if state == "raised":
                check(not was, "%s raised again at seq %d while already raised (seq %s)" %
                      (alarm, seq, last.get(alarm)))
                active[alarm] = True
            else:
                check(was, "%s %s at seq %d without an open raise (last event seq %s)" %
                      (alarm, state, seq, last.get(alarm)))
                if state == "cleared":
                    active[alarm] = False
                else:
                    check(ev["acked"] is True, "an acked event has acked: true (seq %d)" % seq)
            last[alarm] = seq
        for alarm, seq in last.items():
            check(alarm in alarm_state, "alarm_state has %s" % alarm)
            act, acked, sseq = alarm_state[alarm]
            eq((bool(act), sseq), (active[alarm], seq), "alarm_state of %s (active, seq)" % alarm)
        check(counts["raised"] >= kills // 2 and counts["cleared"] >= kills // 2,
              "alarms raised and cleared many times: %r" % counts)
        check(any(a.endswith(".offline") for a in last), "offline alarms took part: %r" % sorted(last))
        print("killloop: ok: %r, %d duplicate deliveries, total %.1fs" %
              (counts, dups, time.monotonic() - t_start), flush=True)
    except Exception:
        print("killloop: FAILED with seed %d (replay: YW_KILL_SEED=%d YW_KILLS=%d)" %
              (seed, seed, kills), flush=True)
        raise
    finally:
        try:
            os.kill(broker.pid, signal.SIGCONT)
        except (ProcessLookupError, NameError):
            pass
        sub.close()


@yw.with_env("kill-held")
def test_kill_while_events_held(env):
    """An event the store cannot commit (here: the test holds the store's
    write lock; in the field: a full disk, an I/O error) is held in memory
    with its seq and published; a SIGKILL then loses it. Its seq must never
    be given to another event (the centre drops duplicates by event_id): the
    seq watermark file next to the store makes the next start skip it (a
    gap, logged)."""
    import mqttutil as mu
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=0)
    sub = yw.Sub(broker.port, [P + "/alarm/#"])
    try:
        d = env.daemon(path)
        wait_for(lambda: any(p["id"] == "p1.pressure" and p["quality"] == "good"
                             for p in env.cli_json(path, "points")), 10, "p1 polled")
        con = sqlite3.connect(cfg["storage"]["path"], timeout=5, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")          # the store cannot commit
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        held = wait_for(lambda: mu.events(sub), 10, "the held raise published")[0]
        os.kill(d.pid, signal.SIGKILL)
        d.wait(5)
        con.execute("ROLLBACK")
        con.close()
        env.daemon(path, name="daemon2")
        wait_for(lambda: [e for e in mu.events(sub) if json.dumps(e) != json.dumps(held)], 10,
                 "an event after the restart")
        env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
        time.sleep(1.5)
        by_seq = {}
        for e in mu.events(sub):
            by_seq.setdefault(e["seq"], set()).add(json.dumps(e, sort_keys=True))
        reused = sorted(s for s, v in by_seq.items() if len(v) > 1)
        check(not reused, "seqs published with two different payloads: %r" % reused)
        check("lost with the previous process" in env.log("daemon2"), "the gap is logged")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_kill_loop, test_kill_while_events_held])
