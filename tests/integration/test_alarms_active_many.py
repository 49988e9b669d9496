"""P/alarms/active lists every active alarm: 600 of them (more than the 512
it once stopped at, silently) all appear in the retained message."""
import yw
import mqttutil as mu
from yw import eq, wait_for
from mqttutil import P

N = 600


@yw.with_env("active-many")
def test_alarms_active_is_never_truncated(env):
    broker = env.broker()
    alarms = [{"id": "a%03d" % i, "point": "p1.pressure", "when": "above", "threshold": -1,
               "severity": "minor", "category": "water"} for i in range(N)]
    cfg, path, sim = mu.setup(env, broker.port, alarms=alarms)
    sub = yw.Sub(broker.port, [P + "/alarms/active"])
    try:
        d = env.daemon(path, level="info")

        def full():
            ms = sub.all(lambda t, p: isinstance(p, dict) and len(p.get("alarms", [])) >= N)
            return ms[-1][1] if ms else None
        act = wait_for(full, 90, "alarms/active with %d alarms" % N)
        eq(sorted(e["alarm"] for e in act["alarms"]), sorted(a["id"] for a in alarms),
           "every active alarm listed")
        eq(env.stop(d), 0, "exit code")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_alarms_active_is_never_truncated])
