"""Alarm delays across a device outage, end to end: a pending delay_s does not
run on while the device is offline. The condition starts, the device goes
offline before the delay has passed and comes back (after 5 s) with the
condition still true: the alarm is raised delay_s after the device is back,
not at once with its first good reading.

Also: a device status message is published only once the store holds what
it says (the row was committed before it was sent)."""
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


def status_msgs(sub, dev, online):
    return [p for (t, p) in sub.all(lambda t, p: t == P + "/device/%s/status" % dev and
                                     isinstance(p, dict) and p.get("online") is online)]


def ts_s(text):
    """RFC 3339 UTC with ms -> seconds (for differences)."""
    import calendar
    base = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return base + int(text[20:23]) / 1000.0


@yw.with_env("alarm-outage")
def test_delay_restarts_after_outage(env):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=3)
    cfg["devices"][0]["offline_after"] = 2
    cfg["buses"][0]["retries"] = 0
    path = env.write_config(cfg)
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        sub.wait(lambda t, p: t == P + "/device/p1/status" and p.get("online") is True, 10,
                 "p1 online")
        # The status message says online: the store says so already.
        state = {x["id"]: x["state"] for x in env.cli_json(path, "devices")}
        eq(state["p1"], "online", "p1's state in the store when its status arrived")

        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})   # the condition starts
        time.sleep(1.0)
        env.sim_step(sim, {"offline": "p1"})
        t_off = time.monotonic()
        wait_for(lambda: status_msgs(sub, "p1", False), 10, "p1 offline")
        state = {x["id"]: x["state"] for x in env.cli_json(path, "devices")}
        eq(state["p1"], "offline", "p1's state in the store when its status arrived")
        check(not mu.events(sub, lambda e: e["alarm"] == "p1-low"),
              "no raise before the outage: the delay had not passed")
        time.sleep(max(0, 5.0 - (time.monotonic() - t_off)))
        env.sim_step(sim, {"online": "p1"})
        back = wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p1.offline" and
                                          e["state"] == "cleared"), 40, "p1 back")[0]
        raised = wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p1-low" and
                                            e["state"] == "raised"), 10, "p1-low raised")[0]
        mu.check_event(raised, alarm="p1-low", state="raised", value=0.05)
        gap = ts_s(raised["ts"]) - ts_s(back["ts"])
        print("raised %.3f s after the device was back" % gap)
        check(gap >= 2.9, "raised %.3f s after the device was back, not delay_s (3 s)" % gap)
        check(gap <= 4.5, "raised %.3f s after the device was back: too late" % gap)
        eq(len(mu.events(sub, lambda e: e["alarm"] == "p1-low")), 1, "one event of p1-low")
        eq(env.stop(d), 0, "exit code")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_delay_restarts_after_outage])
