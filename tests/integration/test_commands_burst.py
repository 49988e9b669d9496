"""A burst of commands cannot starve polling: 100 P/cmd/read for a device that
does not answer (each would cost a timeout) while a pressure transmitter on
the same bus keeps its poll rate (counted in the simulator's --stats file).
At most 16 commands wait per bus, the rest are refused at once ("busy"); a
command for a device that is offline is refused at once; every command gets
an answer."""
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


def p1_requests(env, sim):
    s = env.sim_stats(sim)
    return s["devices"]["p1"]["requests"] if s else None


@yw.with_env("cmd-burst")
def test_burst_for_dead_device_keeps_polling(env):
    broker = env.broker()
    dead = [
        # failing but not offline yet (offline_after 100): its commands queue
        {"id": "dead1", "bus": "lan", "unit": 5, "poll_ms": 60000, "offline_after": 100,
         "points": [{"name": "v", "table": "holding", "address": 0, "type": "uint16"}]},
        # offline after its first failed poll: its commands are refused at once
        {"id": "dead2", "bus": "lan", "unit": 6, "poll_ms": 1000, "offline_after": 1,
         "points": [{"name": "v", "table": "holding", "address": 0, "type": "uint16"}]},
    ]
    cfg, path, sim = mu.setup(env, broker.port, extra_devices=dead)
    cfg["buses"][0]["retries"] = 0        # 300 ms a command for a dead device
    path = env.write_config(cfg)
    env.sim_step(sim, {"offline": "dead1"})
    env.sim_step(sim, {"offline": "dead2"})
    sub = yw.Sub(broker.port, [P + "/cmd/result", P + "/status", P + "/device/#"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        sub.wait(lambda t, p: t == P + "/device/dead2/status" and p.get("online") is False, 10,
                 "dead2 offline")
        # p1's poll rate (poll_ms 500) before the burst
        wait_for(lambda: p1_requests(env, sim), 5, "simulator stats")
        n0, t0 = p1_requests(env, sim), time.monotonic()
        time.sleep(3)
        base = (p1_requests(env, sim) - n0) / (time.monotonic() - t0)
        check(base > 1.0, "p1 polled before the burst: %.2f requests/s" % base)

        n1, t1 = p1_requests(env, sim), time.monotonic()
        for i in range(100):
            sub.publish(P + "/cmd/read", {"id": "b%d" % i, "point": "dead1.v"})
        for i in range(10):
            sub.publish(P + "/cmd/read", {"id": "o%d" % i, "point": "dead2.v"})

        def results():
            rs = {p["id"]: p for (t, p) in sub.all(lambda t, p: t == P + "/cmd/result" and
                                                 isinstance(p, dict))}
            return rs if len(rs) >= 110 else None
        rs = wait_for(results, 30, "an answer to every command")
        took = time.monotonic() - t1
        time.sleep(0.5)   # the stats file lags
        during = (p1_requests(env, sim) - n1) / (time.monotonic() - t1)
        errors = [rs["b%d" % i].get("error", "") for i in range(100)]
        busy = sum(e == "busy: 16 commands queued for bus lan" for e in errors)
        timeouts = sum("timeout" in e for e in errors)
        print("burst answered in %.1f s: %d busy, %d timeouts; p1 %.2f requests/s "
              "(before %.2f)" % (took, busy, timeouts, during, base))
        check(all(rs["b%d" % i]["ok"] is False for i in range(100)), "no read of dead1 succeeded")
        eq(busy + timeouts, 100, "each dead1 read is busy or a timeout: %r" % errors[:20])
        check(timeouts <= 17, "at most 16 queued (+1 running): %d timeouts" % timeouts)
        check(busy >= 80, "the rest refused as busy: %d" % busy)
        for i in range(10):
            eq(rs["o%d" % i].get("error"), "device dead2 is offline", "o%d error" % i)
        check(during >= 0.8 * base, "p1 keeps its poll rate: %.2f requests/s during the burst, "
              "%.2f before" % (during, base))
        # the bus takes commands again
        sub.publish(P + "/cmd/read", {"id": "after", "point": "p1.pressure"})
        m = sub.wait(lambda t, p: t == P + "/cmd/result" and p.get("id") == "after", 10,
                     "result of the read after the burst")
        eq(m[-1][1], {"id": "after", "ok": True, "value": 0.35}, "read after the burst")
        eq(env.stop(d), 0, "exit code")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_burst_for_dead_device_keeps_polling])
