"""storage.max_mb bounds the whole footprint of the store: the real daemon
polls many points every 100 ms, the simulator giving every point a new
value before each poll, into a store of max_mb 2, long enough to pour in
several times the budget. The file and its -wal, sampled every 100 ms,
never take more than max_mb together; `yardwatch status --json` reports the
footprint (db_bytes = file + WAL, wal_bytes, max_bytes); the oldest readings
went, the newest are there."""
import os
import random
import time

import yw
from yw import check, eq, wait_for

MAX_MB = 2
NDEV, NPTS = 20, 20            # 400 float64 points: ~48 KB of archive a second
RUN_S = 35


def devices():
    return [{"id": "d%02d" % i, "bus": "lan", "unit": i + 1, "poll_ms": 100, "points": [
        {"name": "p%d" % k, "table": "holding", "address": 4 * k, "type": "float64", "unit": "V"}
        for k in range(NPTS)]} for i in range(NDEV)]


io_wchar = yw.io_wchar


def size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


@yw.with_env("bounded")
def test_footprint_stays_under_max_mb(env):
    port = yw.free_port()
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_ms": 500}]
    db = os.path.join(env.dir, "yw.db")
    cfg = yw.base_config(env, devices(), buses, storage={"path": db, "max_mb": MAX_MB})
    path = env.write_config(cfg)
    sim = env.sim(path, port=port)
    d = env.daemon(path, level="info")
    wait_for(lambda: sum(1 for x in env.cli_json(path, "devices") if x["state"] == "online") == NDEV,
             15, "every device online")

    rnd = random.Random(7)
    limit = MAX_MB * 1024 * 1024
    worst = worst_wal = samples = 0
    statuses = []
    end = time.monotonic() + RUN_S
    w0 = io_wchar(d.pid)
    next_status = time.monotonic() + 2
    while time.monotonic() < end:
        t = time.monotonic()
        # A new value for every point (float64, never float32-exact); one
        # line a device (the simulator reads lines of up to 4 KB).
        for i in range(NDEV):
            env.sim_step(sim, {"set": {"d%02d.p%d" % (i, k): rnd.uniform(100, 300)
                                       for k in range(NPTS)}})
        fp, wal = size(db) + size(db + "-wal"), size(db + "-wal")
        samples += 1
        worst, worst_wal = max(worst, fp), max(worst_wal, wal)
        check(fp <= limit, "footprint %d bytes (WAL %d) passes max_mb %d after %.1f s"
              % (fp, wal, MAX_MB, RUN_S - (end - t)))
        if t >= next_status:
            statuses.append(env.cli_json(path, "status"))
            next_status = t + 2
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))
    written = io_wchar(d.pid) - w0
    check(d.poll() is None, "the daemon runs")
    print("  %d samples: footprint at most %d bytes (WAL %d) of %d; the daemon wrote %.1f MB"
          % (samples, worst, worst_wal, limit, written / 1e6))
    check(samples >= RUN_S * 5, "sampled about every 100 ms (%d samples)" % samples)
    check(written > 3 * limit, "several times the budget poured in (%d bytes written)" % written)
    check("oldest readings" in env.log("daemon"), "size retention deleted readings")
    check("too small" not in env.log("daemon"), "the budget fits the config")

    # status: the footprint, the WAL and the budget.
    st = env.cli_json(path, "status")
    statuses.append(st)
    for s in statuses:
        eq(s["max_bytes"], limit, "status max_bytes")
        check(isinstance(s["db_bytes"], int) and isinstance(s["wal_bytes"], int),
              "db_bytes and wal_bytes are integers: %r" % s)
        check(s["wal_bytes"] < s["db_bytes"] <= limit, "status footprint under max_mb: %r" % s)
    now = size(db) + size(db + "-wal")
    check(abs(st["db_bytes"] - now) <= limit // 4,
          "db_bytes (%d) is the file plus its -wal (%d now)" % (st["db_bytes"], now))
    rc, out, err = env.cli(path, "status")
    eq(rc, 0, "status exit")
    check("of %d MB" % MAX_MB in out and "WAL" in out, "the table shows the budget: %s" % out)

    # The newest readings are there, the oldest went.
    con = yw.db(db)
    try:
        n, first, last = con.execute("SELECT count(*), min(ts), max(ts) FROM readings_all").fetchone()
    finally:
        con.close()
    check(n > 10000, "readings kept: %d" % n)
    hist = env.cli_json(path, "history", "d07.p3")
    check(len(hist) > 10, "history of a point: %d rows" % len(hist))
    check(last - first < (RUN_S + 20) * 1000, "the oldest went first (%d ms kept)" % (last - first))
    eq(env.stop(d), 0, "clean stop")
    check(size(db) + size(db + "-wal") <= limit, "under max_mb after the stop")


if __name__ == "__main__":
    yw.run([test_footprint_stays_under_max_mb])
