"""A full disk never silences a fire alarm: the store lives on a small tmpfs
(mounted by the test; CI runs as root) that a filler file makes full while
the daemon runs. A raise, an ack and a clear happen while it is full, then
the filler goes. What must hold: the raise and the clear reach the broker
while the disk is full (held in memory with their seq), the ack is refused
(ok: false) and changes nothing, P/status says the store is failing; once
there is room, the held events are in the store with the seqs the centre
saw, nothing is lost, reordered or invented, and a restart continues the
sequence."""
import os
import subprocess
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


def mount_tmpfs(env, size_kb):
    d = os.path.join(env.dir, "flash")
    os.makedirs(d)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0755" % size_kb, "tmpfs", d],
                       capture_output=True)
    if r.returncode != 0:
        raise yw.Failure("cannot mount a tmpfs (run as root): %s" % r.stderr.decode().strip())
    return d


def fill(path):
    """Write PATH until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def store_failing(sub):
    st = [p for (t, p) in sub.all(lambda t, p: t == P + "/status" and isinstance(p, dict))]
    return st and st[-1].get("store") == "failing"


def store_ok_again(sub):
    st = [p for (t, p) in sub.all(lambda t, p: t == P + "/status" and isinstance(p, dict))]
    return len(st) >= 2 and st[-1].get("store") == "ok" and any(
        s.get("store") == "failing" for s in st)


@yw.with_env("diskfull")
def test_full_disk_holds_events_and_refuses_acks(env):
    flash = mount_tmpfs(env, 4096)
    try:
        broker = env.broker()
        extra = [{"id": "m%d" % i, "bus": "lan", "unit": 10 + i, "profile": "chint-dtsu666",
                  "poll_ms": 200} for i in range(4)]
        alarms = [{"id": "p1-low", "point": "p1.pressure", "when": "below", "threshold": 0.10,
                   "clear": 0.12, "delay_s": 0, "severity": "critical", "category": "fire",
                   "latch": True, "message": "Fire water pressure low"}]
        cfg, path, sim = mu.setup(env, broker.port, alarms=alarms, extra_devices=extra,
                                  storage={"path": os.path.join(flash, "yw.db"), "max_mb": 3})
        sub = yw.Sub(broker.port, [P + "/#"])
        d = env.daemon(path)
        mu.wait_online(sub)
        wait_for(lambda: any(p["id"] == "p1.pressure" and p["value"] == 0.35
                             for p in env.cli_json(path, "points")), 15, "readings stored")

        # The partition fills up; the readings batches start to fail.
        fill(os.path.join(flash, "filler"))
        wait_for(lambda: "full" in env.log("daemon"), 60, "the store reports the full disk")

        # A fire alarm while the disk is full: published all the same.
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        raised = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "raised"), 10,
                          "raised while the disk is full")[0]
        mu.check_event(raised, alarm="p1-low", state="raised", value=0.05)
        wait_for(lambda: store_failing(sub), 10, "P/status says the store is failing")

        # An ack that cannot be committed is refused and changes nothing.
        sub.publish(P + "/cmd/ack", {"id": "ack-1", "alarm": "p1-low", "by": "op"})
        res = sub.wait(lambda t, p: t == P + "/cmd/result" and p.get("id") == "ack-1", 10,
                       "ack result")[0][1]
        eq(res["ok"], False, "ack refused while the store cannot commit")
        check("store" in res.get("error", ""), "the error names the store: %r" % res)
        eq(mu.events(sub, lambda e: e["state"] == "acked"), [], "no acked event")

        # The condition clears; latched: still active (no clear without ack).
        env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
        time.sleep(1.5)
        eq(mu.events(sub, lambda e: e["state"] == "cleared"), [], "latched: no clear before the ack")

        # Room again: the held event is written with the seq the centre saw.
        os.unlink(os.path.join(flash, "filler"))
        wait_for(lambda: store_ok_again(sub), 15, "P/status store ok again")
        stored = wait_for(lambda: [e for e in env.cli_json(path, "alarms")
                                   if e["seq"] == raised["seq"]], 10, "held event in the store")
        eq(stored[0]["event_id"], raised["event_id"], "stored as published")
        eq(stored[0]["state"], "raised", "stored state")

        # The ack works now: acked then cleared, the next seqs.
        sub.publish(P + "/cmd/ack", {"id": "ack-2", "alarm": "p1-low", "by": "op"})
        res = sub.wait(lambda t, p: t == P + "/cmd/result" and p.get("id") == "ack-2", 10,
                       "ack result")[0][1]
        eq(res["ok"], True, "ack accepted with room")
        wait_for(lambda: mu.events(sub, lambda e: e["state"] == "cleared"), 10, "cleared after ack")
        evs = mu.events(sub)
        seqs = [e["seq"] for e in evs]
        eq(seqs, sorted(set(seqs)), "events in seq order, none twice on first delivery")
        eq([e["state"] for e in evs if e["alarm"] == "p1-low"], ["raised", "acked", "cleared"],
           "p1-low: raised, acked, cleared; nothing invented")
        eq(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "no seq skipped")

        # A restart: everything is in the store, the sequence continues.
        env.stop(d)
        log = env.log("daemon")
        check("lost with this process" not in log, "nothing was left in memory at the stop")
        in_store = sorted(e["seq"] for e in env.cli_json(path, "alarms"))
        eq([s for s in in_store if s in seqs], seqs, "every published event is in the store")
        d = env.daemon(path, name="daemon2")
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        again = wait_for(lambda: [e for e in mu.events(sub) if e["seq"] > seqs[-1]], 15,
                         "an event after the restart")[0]
        eq(again["seq"], seqs[-1] + 1, "the sequence continues after the restart")
        sub.close()
    finally:
        env.cleanup()
        subprocess.run(["umount", "-l", flash], capture_output=True)


if __name__ == "__main__":
    yw.run([test_full_disk_holds_events_and_refuses_acks])
