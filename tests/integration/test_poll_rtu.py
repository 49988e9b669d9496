"""The daemon polls the simulator over Modbus RTU on a pty pair made by socat:
values arrive; a device taken offline is reported offline after
offline_after failed polls while its neighbours on the same line keep their
poll rate; it comes back online when it answers again."""
import os
import shutil
import time

import yw
from yw import check, eq, wait_for

SOCAT = shutil.which("socat") or "/usr/bin/socat"


def pty_pair(env):
    a, b = os.path.join(env.dir, "ttyA"), os.path.join(env.dir, "ttyB")
    env.spawn("socat", [SOCAT, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b])
    wait_for(lambda: os.path.exists(a) and os.path.exists(b), 10, "socat ptys")
    return a, b


def devices_by_id(env, path):
    return {d["id"]: d for d in env.cli_json(path, "devices")}


@yw.with_env("rtu")
def test_rtu_poll_offline_and_neighbours(env):
    a, b = pty_pair(env)
    buses = [{"id": "rs485", "type": "rtu", "device": a, "baud": 19200, "parity": "N",
              "data_bits": 8, "stop_bits": 1, "timeout_ms": 200, "retries": 0}]
    devices = [
        {"id": "p1", "bus": "rs485", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 500},
        {"id": "p2", "bus": "rs485", "unit": 2, "profile": "pressure-transmitter", "poll_ms": 500,
         "offline_after": 3},
        {"id": "r3", "bus": "rs485", "unit": 3, "profile": "relay-8ch", "poll_ms": 500},
    ]
    cfg = yw.base_config(env, devices, buses)
    path = env.write_config(cfg)
    sim = env.sim(path, rtu=b)
    env.sim_step(sim, {"set": {"p1.pressure": 0.333, "p2.pressure": 0.222}})
    d = env.daemon(path)

    def both():
        pts = {p["id"]: p for p in env.cli_json(path, "points")}
        return (pts.get("p1.pressure", {}).get("value") == 0.333 and
                pts.get("p2.pressure", {}).get("value") == 0.222)
    wait_for(both, 15, "RTU values in the store")
    devs = devices_by_id(env, path)
    eq(devs["p2"]["state"], "online", "p2 online")

    env.sim_step(sim, {"offline": "p2"})
    t0 = time.monotonic()
    wait_for(lambda: devices_by_id(env, path)["p2"]["state"] == "offline", 10, "p2 offline")
    took = time.monotonic() - t0
    # 3 failed polls: at most 3 poll periods + backoff + the store batch.
    check(took < 6, "offline detected after %.1fs" % took)
    pts = {p["id"]: p for p in env.cli_json(path, "points")}
    eq(pts["p2.pressure"]["quality"], "stale", "quality of an offline device's point")

    # Neighbours keep their rate while p2 times out on the same line.
    before = devices_by_id(env, path)
    time.sleep(5)
    after = devices_by_id(env, path)
    for n in ("p1", "r3"):
        rate = (after[n]["polls"] - before[n]["polls"]) / 5.0
        check(rate >= 1.6, "%s polled %.2f/s while p2 was offline (want ~2/s)" % (n, rate))
    p2rate = (after["p2"]["polls"] - before["p2"]["polls"]) / 5.0
    check(p2rate <= 1.0, "offline p2 backed off (%.2f polls/s)" % p2rate)

    env.sim_step(sim, {"online": "p2"})
    wait_for(lambda: devices_by_id(env, path)["p2"]["state"] == "online", 40, "p2 online again")
    eq(env.stop(d), 0, "daemon exit code")


if __name__ == "__main__":
    yw.run([test_rtu_poll_offline_and_neighbours])
