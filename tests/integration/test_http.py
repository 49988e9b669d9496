"""The status page served by the real daemon (simulator, mosquitto) on a free
loopback port: / with every device and the active alarm, /point/, each
/api/... document equal to `yardwatch ... --json`, /metrics parsed sample by
sample; 404, 405, 413, 431, 400; the http section applied by a reload
(started, basic auth set and changed, moved, stopped) and refused by
--check-config; and a hostile client (hundreds of half-open connections, a
slow reader, a slow sender) that cannot delay an alarm."""
import os
import signal
import socket
import subprocess
import time

import httputil as hu
import mqttutil as mu
import yw
from mqttutil import P
from yw import check, eq, wait_for

EXTRA = [
    {"id": "m1", "bus": "lan", "unit": 2, "profile": "chint-dtsu666", "poll_ms": 1000,
     "location": "Switch <script>alert(1)</script> room & \"B\"", "category": "power"},
    {"id": "gone", "bus": "lan", "unit": 9, "profile": "pressure-transmitter", "poll_ms": 500,
     "location": "Roof tank", "offline_after": 2},
]
FAMILIES = {
    "yardwatch_build_info", "yardwatch_start_time_seconds", "yardwatch_clock_set",
    "yardwatch_modbus_requests_total", "yardwatch_modbus_polls_total",
    "yardwatch_uplink_connected", "yardwatch_outbox_depth", "yardwatch_device_up",
    "yardwatch_device_last_ok_timestamp_seconds", "yardwatch_point_value",
    "yardwatch_alarm_active", "yardwatch_store_bytes", "process_cpu_seconds_total",
    "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
    "process_max_fds", "process_start_time_seconds",
}


def start(env, broker, http=True, **kw):
    cfg, path, sim = mu.setup(env, broker.port, extra_devices=EXTRA, delay_s=0, **kw)
    env.sim_step(sim, {"offline": "gone"})
    port = yw.free_port()
    if http:
        cfg["http"] = {"listen": "127.0.0.1:%d" % port, "password_file": None}
        path = env.write_config(cfg)
    return cfg, path, sim, port


def same_as_cli(env, path, port, url, *args):
    """GET URL equals `yardwatch ARGS --json`, taken between two runs of the
    command line that agree (the store moves on every second, and the
    page's snapshot of the links up to a second after the control socket)."""
    for _ in range(40):
        a = env.cli_json(path, *args)
        b = hu.get_json(port, url)
        c = env.cli_json(path, *args)
        if a == c == b:
            return b
        time.sleep(0.1)
    eq(b, a, "%s = yardwatch %s --json" % (url, " ".join(args)))


@yw.with_env("http")
def test_page_api_metrics(env):
    broker = env.broker()
    cfg, path, sim, port = start(env, broker)
    sub = yw.Sub(broker.port, [P + "/alarm/#", P + "/status"])
    try:
        d = env.daemon(path)
        mu.wait_online(sub)
        yw.wait_port(port)
        wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "gone.offline"), 10, "gone offline")
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p1-low"), 10, "p1-low raised")

        # the page: every device, the active alarms, the markup of a location as text
        def page_has_alarm():
            st, h, body = hu.get(port, "/")
            return st == 200 and b"Fire water pressure low, building 3" in body and body
        body = wait_for(page_has_alarm, 5, "the page shows the alarm").decode()
        for dev in cfg["devices"]:
            check('id="dev-%s"' % dev["id"] in body, "the page lists %s" % dev["id"])
        check("p1-low" in body and "gone.offline" in body, "both active alarms")
        check("<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body,
              "a location's markup is text")
        st, h, pt = hu.get(port, "/point/p1.pressure")
        eq(st, 200, "/point/p1.pressure")
        check(b"<svg" in pt and b'class="threshold"' in pt and b"0.05" in pt, "the chart")
        eq(hu.get(port, "/point/p1.nope")[0], 404, "an unknown point")

        # the API: the command line's documents
        t0 = env.cli_json(path, "history", "p1.pressure")[0]["ts"]
        same_as_cli(env, path, port, "/api/status", "status")
        same_as_cli(env, path, port, "/api/devices", "devices")
        same_as_cli(env, path, port, "/api/points", "points")
        same_as_cli(env, path, port, "/api/points/m1", "points", "m1")
        act = same_as_cli(env, path, port, "/api/alarms?active=1", "alarms", "--active")
        eq(sorted(e["alarm"] for e in act), ["gone.offline", "p1-low"], "active alarms")
        same_as_cli(env, path, port, "/api/alarms", "alarms")
        same_as_cli(env, path, port, "/api/alarms?since=" + t0, "alarms", "--since", t0)
        same_as_cli(env, path, port, "/api/history/p1.pressure?since=" + t0,
                    "history", "p1.pressure", "--since", t0)
        same_as_cli(env, path, port, "/api/history/p1.pressure", "history", "p1.pressure")
        st = hu.get_json(port, "/api/status")
        eq((st["daemon"], st["uplinks"][0]["id"]), ({"running": True, "pid": d.pid}, "mqtt"), "daemon")

        # /metrics, sample by sample
        status, headers, text = hu.get(port, "/metrics")
        eq(status, 200, "/metrics")
        eq(headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", "content type")
        fams = hu.parse_metrics(text.decode())
        eq(set(fams), FAMILIES, "metric families")
        eq(hu.sample(fams, "yardwatch_build_info"), 1, "build_info")
        eq(hu.sample(fams, "yardwatch_device_up", device="p1", bus="lan"), 1, "p1 up")
        eq(hu.sample(fams, "yardwatch_device_up", device="gone", bus="lan"), 0, "gone down")
        eq(hu.sample(fams, "yardwatch_point_value", device="p1", point="pressure", unit="MPa"),
           0.05, "p1.pressure")
        eq(hu.sample(fams, "yardwatch_alarm_active", alarm="p1-low", severity="critical",
                     category="fire"), 1, "p1-low active")
        eq(hu.sample(fams, "yardwatch_alarm_active", alarm="gone.offline", severity="major",
                     category="system"), 1, "gone.offline active")
        eq(hu.sample(fams, "yardwatch_alarm_active", alarm="m1.offline"), 0, "m1 answers")
        eq(hu.sample(fams, "yardwatch_uplink_connected", uplink="mqtt"), 1, "mqtt connected")
        check(hu.sample(fams, "yardwatch_outbox_depth", uplink="mqtt") >= 0, "outbox depth")
        check(hu.sample(fams, "yardwatch_modbus_requests_total", bus="lan", result="timeout") >= 2,
              "the silent device's timeouts are counted")
        check(hu.sample(fams, "yardwatch_modbus_polls_total", bus="lan", result="ok") > 5, "polls")
        check(hu.sample(fams, "yardwatch_store_bytes") > 0, "store bytes")
        check(hu.sample(fams, "process_resident_memory_bytes") > 1e6, "rss")
        check(abs(hu.sample(fams, "process_start_time_seconds") - time.time()) < 120, "start time")
        eq({s[0]["point"] for s in fams["yardwatch_point_value"]["samples"]
            if s[0]["device"] == "gone"}, set(), "an offline device's points are not values")
        check(d.poll() is None, "the daemon runs")
    finally:
        sub.close()


@yw.with_env("http-limits")
def test_limits_and_reload(env):
    broker = env.broker()
    cfg, path, sim, port = start(env, broker, http=False)
    d = env.daemon(path)
    wait_for(lambda: env.cli_json(path, "status")["daemon"]["running"], 10, "daemon running")
    check(refused(port), "no page without an http section")
    # a reload brings the page up, without a restart
    cfg["http"] = {"listen": "127.0.0.1:%d" % port, "password_file": None}
    path = env.write_config(cfg)
    os.kill(d.pid, signal.SIGHUP)
    yw.wait_port(port)
    eq(hu.get(port, "/")[0], 200, "the page after the reload")

    # limits: methods, bodies, headers, paths, arguments
    eq(hu.raw(port, b"POST /api/alarms HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")[0],
       405, "POST")
    code, out = hu.raw(port, b"PUT / HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    check(code == 405 and b"Allow: GET, HEAD\r\n" in out, "PUT: %r" % out[:200])
    eq(hu.raw(port, b"GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n\r\nbody")[0], 413, "a body")
    eq(hu.raw(port, b"GET / HTTP/1.1\r\nHost: gw\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")[0],
       431, "a header over 8 KB")
    eq(hu.raw(port, b"GET / HTTP/1.1\r\nHost: gw\r\nX-Pad: " + b"a" * 30000 + b"\r\n\r\n")[0],
       431, "a header over libmicrohttpd's buffer")
    eq(hu.raw(port, b"GET / HTTP/1.1\r\nbroken header\r\n\r\n")[0], 400, "malformed")
    code, out = hu.raw(port, b"HEAD /metrics HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    check(code == 200 and out.endswith(b"\r\n\r\n"), "HEAD has no body: %r" % out[-40:])
    eq(hu.get(port, "/nope")[0], 404, "unknown path")
    eq(hu.get(port, "/api/history/p1.pressure?since=someday")[0], 400, "a bad time")
    eq(hu.get(port, "/api/alarms?activ=1")[0], 400, "an unknown argument")

    # basic auth: set by a reload, changed by another; every path asks
    pw = os.path.join(env.dir, "http.secret")
    with open(pw, "w") as f:
        f.write("s3cret\n")
    cfg["http"]["password_file"] = pw
    path = env.write_config(cfg)
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: hu.get(port, "/")[0] == 401, 5, "401 after the reload")
    for p in ("/", "/metrics", "/api/status", "/point/p1.pressure", "/nope"):
        st, headers, body = hu.get(port, p)
        eq(st, 401, "%s without a password" % p)
        eq(headers.get("WWW-Authenticate"), 'Basic realm="yardwatch", charset="UTF-8"', "challenge")
        eq(hu.get(port, p, auth="yardwatch:wrong")[0], 401, "%s with a wrong password" % p)
        eq(hu.get(port, p, auth="admin:s3cret")[0], 401, "%s as another user" % p)
    eq(hu.get(port, "/metrics", auth="yardwatch:s3cret")[0], 200, "the right password")
    with open(pw, "w") as f:
        f.write("n3w")
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: hu.get(port, "/", auth="yardwatch:n3w")[0] == 200, 5, "the new password")
    eq(hu.get(port, "/", auth="yardwatch:s3cret")[0], 401, "the old password")

    # a bad http section: refused by --check-config and by a reload (the page stays)
    bad = dict(cfg, http={"listen": "gateway.lan:80"})
    badpath = env.write_config(bad, "bad.json")
    r = subprocess.run(yw.ours([yw.DAEMON, "-c", badpath, "--check-config"]), capture_output=True,
                       timeout=20)
    eq(r.returncode, 78, "--check-config exit")
    check(b'http.listen: "gateway.lan:80" is not ADDRESS:PORT' in r.stderr, "message: %r" % r.stderr)
    env.write_config(bad)
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: "reload refused" in env.log("daemon"), 5, "reload refused")
    eq(hu.get(port, "/", auth="yardwatch:n3w")[0], 200, "the page stays")

    # moved by a reload, then stopped
    port2 = yw.free_port()
    cfg["http"] = {"listen": "127.0.0.1:%d" % port2}
    path = env.write_config(cfg)
    os.kill(d.pid, signal.SIGHUP)
    yw.wait_port(port2)
    eq(hu.get(port2, "/")[0], 200, "at the new address")
    wait_for(lambda: refused(port), 5, "the old address closed")
    del cfg["http"]
    path = env.write_config(cfg)
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: refused(port2), 5, "stopped")
    check(d.poll() is None, "the daemon runs")
    eq(env.stop(d), 0, "clean stop")


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


@yw.with_env("http-hostile")
def test_hostile_client_cannot_delay_an_alarm(env):
    """Hundreds of connections that never finish their request, a client that
    asks for big answers and does not read them, and one that sends its
    header a byte at a time: the fire alarm raised meanwhile reaches the
    subscriber as fast as without them."""
    broker = env.broker()
    cfg, path, sim, port = start(env, broker)
    sub = yw.Sub(broker.port, [P + "/alarm/#", P + "/status"])
    socks = []
    try:
        d = env.daemon(path, level="info")
        mu.wait_online(sub)
        yw.wait_port(port)

        def latency():
            n = len(mu.events(sub, lambda e: e["alarm"] == "p1-low"))
            t0 = time.monotonic()
            env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
            wait_for(lambda: len(mu.events(sub, lambda e: e["alarm"] == "p1-low")) > n, 10, "raised")
            with sub.lock:
                t1 = [m[3] for m in sub.msgs if isinstance(m[1], dict) and m[1].get("alarm") == "p1-low"][n]
            env.sim_step(sim, {"set": {"p1.pressure": 0.35}})
            wait_for(lambda: len(mu.events(sub, lambda e: e["alarm"] == "p1-low")) > n + 1, 10, "cleared")
            return t1 - t0
        quiet = [latency() for _ in range(2)]

        for i in range(300):   # half-open: a request line, never the end of the header
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.setblocking(False)
                s.send(b"GET / HTTP/1.1\r\nHost: gw\r\n")
                socks.append(s)
            except OSError:
                break
        for i in range(10):    # slow readers: big answers, never read
            try:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(2)
                s.connect(("127.0.0.1", port))
                s.send(b"GET /api/points HTTP/1.1\r\nHost: gw\r\n\r\n" * 4)
                socks.append(s)
            except OSError:
                pass
        slow = socket.create_connection(("127.0.0.1", port), timeout=2)
        socks.append(slow)
        busy = []
        for i in range(3):
            for c in b"GET /metrics HT":
                try:
                    slow.send(bytes([c]))
                except OSError:
                    break
            busy.append(latency())
        lat = max(busy)
        print("alarm latency (ms): quiet %s; with %d hostile connections %s" %
              ([round(x * 1000) for x in quiet], len(socks), [round(x * 1000) for x in busy]))
        check(lat < 1.5 * yw.SLOW, "an alarm under a hostile client took %.0f ms" % (lat * 1000))
        check(d.poll() is None, "the daemon runs")
    finally:
        for s in socks:
            s.close()
        sub.close()
    # once they are gone the page answers again
    wait_for(lambda: hu.get(port, "/", timeout=2)[0] == 200, 20, "the page answers again")


if __name__ == "__main__":
    yw.run([test_page_api_metrics, test_limits_and_reload, test_hostile_client_cannot_delay_an_alarm])
