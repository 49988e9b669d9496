"""The wall clock on a gateway without RTC, end to end. The daemon's
CLOCK_REALTIME alone is shifted by tests/clockshim (LD_PRELOAD; the offset
in ms comes from a file the test rewrites), the broker, the simulator and
the command line keep the real time.

What must hold (docs/behaviour.md, "The clock"):
- booted in 1970, nothing is stamped 1970: stamps are estimated from the
  build date (or the newest stamp in the store), events say "clock_unset";
  once NTP sets the clock, the raise time of an alarm raised meanwhile and
  the start time in P/status are corrected; the readings of that time are
  not deleted by retention at the next start;
- stepped back an hour, the latest value is the latest read, stamps do not
  go back, and `yardwatch alarms --since 30m` shows the newest events."""
import datetime
import os
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P

SHIM = os.path.join(yw.BIN, "tests", "libywclockshim.so")


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def set_offset(path, ms):
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % ms)
    os.replace(path + ".tmp", path)


def shifted_daemon(env, path, clock_file, name="daemon"):
    return env.daemon(path, name=name, env=yw.preload(SHIM, YW_CLOCK_FILE=clock_file))


def statuses(sub):
    return [p for (t, p) in sub.all(lambda t, p: t == P + "/status" and isinstance(p, dict)
                                   and p.get("online"))]


def skip_if_emulated():
    if yw.WRAP:
        print("skipped: the clock shim is a native library (emulated run)")
        return True
    return False


@yw.with_env("clock-1970")
def test_boot_in_1970_then_ntp(env):
    if skip_if_emulated():
        return
    clock = os.path.join(env.dir, "clock")
    set_offset(clock, -int((time.time() - 2 * 86400) * 1000))    # 1970-01-03
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=0)
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        t_start = time.time()
        shifted_daemon(env, path, clock)
        st = mu.wait_online(sub)[-1][1]
        check(st["started"] >= "2026", "started is no 1970 stamp: %r" % st["started"])
        wait_for(lambda: "the wall clock is not set" in env.log("daemon"), 5, "logged unset")

        t_raise = time.time()
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        raised = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "raised"), 10,
                          "raised while unset")[0]
        eq(raised.get("clock_unset"), True, "an event stamped while unset says so")
        check(raised["ts"] >= "2026", "raised ts is no 1970 stamp: %r" % raised["ts"])

        # NTP sets the clock.
        set_offset(clock, 0)
        wait_for(lambda: "the wall clock is set" in env.log("daemon"), 5, "logged set")
        st = wait_for(lambda: [s for s in statuses(sub) if abs(parse_ts(s["started"]) - t_start) < 5],
                      5, "P/status with the corrected start")[-1]
        env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
        cleared = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "cleared"), 10,
                           "cleared after the clock was set")[0]
        check("clock_unset" not in cleared, "stamped by the set clock: no flag")
        check(abs(parse_ts(cleared["raised_ts"]) - t_raise) < 5,
              "raised_ts corrected to the real raise time: %s vs %s"
              % (cleared["raised_ts"], datetime.datetime.utcfromtimestamp(t_raise)))
        check(abs(parse_ts(cleared["ts"]) - time.time()) < 5, "cleared ts is the real time")

        # Nothing in the store is stamped 1970; the unset time's readings stay.
        evs = env.cli_json(path, "alarms")
        check(all(e["ts"] >= "2026" and e["raised_ts"] >= "2026" for e in evs),
              "no 1970 stamp in the store: %r" % [(e["ts"], e["raised_ts"]) for e in evs])
        hist = env.cli_json(path, "history", "p1.pressure", "--since", "1970-01-01")
        check(all(r["ts"] >= "2026" for r in hist), "no 1970 reading")
        check(0.05 in [r["value"] for r in hist], "the reading made while unset is stored")
        n = len(hist)

        # A restart with the clock set: retention (10 s after start) keeps them.
        env.stop(env.procs[-1])
        shifted_daemon(env, path, clock, name="daemon2")
        time.sleep(12)
        hist = env.cli_json(path, "history", "p1.pressure", "--since", "1970-01-01")
        check(len(hist) >= n and 0.05 in [r["value"] for r in hist],
              "retention deleted nothing of the unset time")
    finally:
        sub.close()


@yw.with_env("clock-back")
def test_step_back_one_hour(env):
    if skip_if_emulated():
        return
    clock = os.path.join(env.dir, "clock")
    set_offset(clock, 0)
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=0)
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        shifted_daemon(env, path, clock)
        mu.wait_online(sub)

        def point():
            return [p for p in env.cli_json(path, "points") if p["id"] == "p1.pressure"][0]
        env.sim_step(sim, {"set": {"p1.pressure": 0.2}})
        before = wait_for(lambda: point()["value"] == 0.2 and point(), 10, "0.2 read")

        set_offset(clock, -3600 * 1000)
        wait_for(lambda: "stepped by -3600 s" in env.log("daemon"), 5, "the step is logged")
        env.sim_step(sim, {"set": {"p1.pressure": 0.25}})
        after = wait_for(lambda: point()["value"] == 0.25 and point(), 10,
                         "the latest value is the latest read")
        check(after["ts"] >= before["ts"], "stamps do not go back: %s after %s"
              % (after["ts"], before["ts"]))

        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        raised = wait_for(lambda: mu.events(sub, lambda e: e["state"] == "raised"), 10,
                          "raised after the step")[0]
        check(raised["ts"] >= before["ts"], "event stamp does not go back")
        recent = env.cli_json(path, "alarms", "--since", "30m")
        check(raised["seq"] in [e["seq"] for e in recent],
              "alarms --since 30m shows the newest event")
        hist = env.cli_json(path, "history", "p1.pressure", "--since", "10m")
        tss = [r["ts"] for r in hist]
        eq(tss, sorted(tss), "history in order of reading")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_boot_in_1970_then_ntp, test_step_back_one_hour])
