"""yardwatch and time, end to end: the daemon polls the simulator, a steady
point is stored once and then only read again, and the command line says
when the value was last confirmed (`points` ts: the last poll, not the time
it was stored), shows the value in force for a window with no new reading
(`history --since 30s`), prints tables in the gateway's local time with its
offset (TZ=Asia/Shanghai: +08:00) or in UTC with --utc, and JSON in UTC.

Meanwhile a second device goes offline and comes back: the cleared event of
its offline alarm, on MQTT and in the store, says it answers again, not that
it does not answer."""
import calendar
import os
import re
import subprocess
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P

SHANGHAI = 8 * 3600
TABLE_TS = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})"


def ts_s(text):
    """RFC 3339 UTC with ms -> seconds since the epoch."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + int(text[20:23]) / 1000.0


def table_time(rfc3339, off_s):
    """The table's text of an RFC 3339 UTC time at a fixed offset of OFF_S."""
    t = calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S")) + off_s
    sign = "-" if off_s < 0 else "+"
    a = abs(off_s)
    return "%s.%s%s%02d:%02d" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)),
                                 rfc3339[20:23], sign, a // 3600, a % 3600 // 60)


def table_s(text, off_s):
    """A table's time without its offset (local at OFF_S) -> seconds since the epoch."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%d %H:%M:%S")) - off_s + int(text[20:23]) / 1000.0


def cli_tz(path, tz, *args):
    """yardwatch -c PATH ARGS with TZ set: its output (exit 0 required)."""
    r = subprocess.run(yw.ours([yw.CLI, "-c", path] + list(args)), capture_output=True,
                       timeout=20, env=dict(os.environ, TZ=tz))
    if r.returncode != 0:
        raise yw.Failure("TZ=%s yardwatch %s: exit %d: %s" % (tz, " ".join(args), r.returncode,
                                                             r.stderr.decode()))
    return r.stdout.decode()


def point(env, path, pid):
    return {p["id"]: p for p in env.cli_json(path, "points")}[pid]


@yw.with_env("cli-times")
def test_cli_times(env):
    broker = env.broker()
    m2 = {"id": "m2", "bus": "lan", "unit": 2, "poll_ms": 500, "offline_after": 2,
          "points": [{"name": "level", "table": "holding", "address": 0, "type": "uint16"}]}
    cfg, path, sim = mu.setup(env, broker.port, extra_devices=[m2])
    cfg["buses"][0]["retries"] = 0
    path = env.write_config(cfg)
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        env.daemon(path)
        mu.wait_online(sub)
        # p1.pressure is pinned at 0.35 by the simulator: stored once.
        wait_for(lambda: point(env, path, "p1.pressure")["value"] == 0.35 and
                 point(env, path, "m2.level")["quality"] == "good", 15, "both devices read")
        rows = env.cli_json(path, "history", "p1.pressure")
        eq(len(rows), 1, "p1.pressure stored once")
        stored = rows[0]["ts"]

        # While it ages past 30 s: m2 goes offline and comes back.
        env.sim_step(sim, {"offline": "m2"})
        sub.wait(lambda t, p: t == P + "/alarm/system/m2.offline" and p.get("state") == "raised",
                 10, "m2.offline raised")
        env.sim_step(sim, {"online": "m2"})
        sub.wait(lambda t, p: t == P + "/alarm/system/m2.offline" and p.get("state") == "cleared",
                 20, "m2.offline cleared")
        ev = {e["state"]: e for e in mu.events(sub, lambda e: e["alarm"] == "m2.offline")}
        mu.check_event(ev["raised"], device="m2", message="Device m2 is not answering")
        mu.check_event(ev["cleared"], device="m2", message="Device m2 answers again")
        stored_ev = {e["state"]: e for e in env.cli_json(path, "alarms")
                     if e["alarm"] == "m2.offline"}
        eq(stored_ev["cleared"]["message"], "Device m2 answers again", "the stored cleared event")
        check("not answering" not in stored_ev["cleared"]["message"],
              "a cleared offline event does not say the device is not answering")

        time.sleep(max(0, ts_s(stored) + 32 - time.time()))

        # points: ts is the last poll that read the value, not when it was stored
        p = point(env, path, "p1.pressure")
        now = time.time()
        eq(p["value"], 0.35, "p1.pressure")
        eq(p["quality"], "good", "p1.pressure quality")
        mu.check_ts(p["ts"], "points ts")
        check(ts_s(p["ts"]) - ts_s(stored) > 29, "points ts %s is later than the stored reading %s"
              % (p["ts"], stored))
        check(now - ts_s(p["ts"]) < 3 * yw.SLOW, "points ts %s is the last poll (now %.3f)"
              % (p["ts"], now))
        eq(len(env.cli_json(path, "history", "p1.pressure")), 1, "still stored once")

        # history --since 30s of the steady point: the value in force, at its own time
        rows = env.cli_json(path, "history", "p1.pressure", "--since", "30s")
        eq(rows, [{"ts": stored, "value": 0.35, "quality": "good"}], "history --since 30s")
        rc, out, err = env.cli(path, "history", "p1.pressure", "--since", "30s", "--csv")
        eq((rc, out), (0, "ts,value,quality\n%s,0.35,good\n" % stored), "history --since 30s --csv")

        # tables: local time with its offset, or UTC with --utc
        out = cli_tz(path, "Asia/Shanghai", "history", "p1.pressure", "--since", "30s")
        lines = out.splitlines()
        eq(len(lines), 2, "history table: header and the value in force")
        check(re.match(r"^TS\s+VALUE\s+UNIT\s+QUALITY$", lines[0]), "history header: %r" % lines[0])
        check(re.match(r"^%s\s+0\.35\s+MPa\s+good$" % re.escape(table_time(stored, SHANGHAI)),
                       lines[1]), "history row in local time with the unit: %r" % lines[1])
        out = cli_tz(path, "Asia/Shanghai", "history", "p1.pressure", "--since", "30s", "--utc")
        check(out.splitlines()[1].startswith(table_time(stored, 0)), "history --utc: %r" % out)
        out = cli_tz(path, "UTC", "history", "p1.pressure", "--since", "30s")
        check(out.splitlines()[1].startswith(table_time(stored, 0)), "history TZ=UTC: %r" % out)

        for tz, opt, off in (("Asia/Shanghai", [], SHANGHAI), ("Asia/Shanghai", ["--utc"], 0)):
            sign = "+%02d:00" % (off // 3600)
            out = cli_tz(path, tz, "points", *opt)
            m = re.search(r"^p1\.pressure\s+0\.35\s+MPa\s+%s%s\s+good$" % (TABLE_TS, re.escape(sign)),
                          out, re.M)
            check(m, "points table in %s: %r" % (sign, out))
            check(abs(time.time() - table_s(m.group(1), off)) < 4 * yw.SLOW,
                  "points table ts %s%s is the last poll" % (m.group(1), sign))
            out = cli_tz(path, tz, "devices", *opt)
            check(re.search(r"^p1\s+lan\s+1\s+online\s+%s%s\s" % (TABLE_TS, re.escape(sign)),
                            out, re.M), "devices table in %s: %r" % (sign, out))
            out = cli_tz(path, tz, "alarms", *opt)
            for state in ("raised", "cleared"):
                want = "%s  %s" % (table_time(stored_ev[state]["ts"], off), state)
                check(want in out, "alarms table has %r: %r" % (want, out))
            check("Device m2 answers again" in out, "alarms table message: %r" % out)
            out = cli_tz(path, tz, "report", *opt)
            check(re.search(r"^maintenance report %s%s \.\. %s%s$" % (TABLE_TS, re.escape(sign),
                                                                     TABLE_TS, re.escape(sign)),
                            out, re.M), "report header in %s: %r" % (sign, out))
            out = cli_tz(path, tz, "status", *opt)
            check(re.search(r"^readings\s+%s%s \.\. " % (TABLE_TS, re.escape(sign)), out, re.M),
                  "status table in %s: %r" % (sign, out))

        # JSON is UTC whatever TZ and --utc say
        out = cli_tz(path, "Asia/Shanghai", "history", "p1.pressure", "--since", "30s", "--json",
                     "--utc")
        check(stored in out, "history --json in UTC: %r" % out)
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_cli_times])
