"""The status page in a real browser: Debian's chromium, headless, takes a
phone-sized screenshot of / and of /point/p1.pressure while p1-low is
active, and its DOM (--dump-dom, after the browser parsed the page) holds a
row for every device, the alarm, and the chart's <svg> with its threshold.
The PNGs are kept in the build directory (http-screenshots/) for a person
to look at. Chromium runs with --no-sandbox as root (CI), a private
--user-data-dir in the test's directory, no network but 127.0.0.1, and a
bounded time."""
import os
import shutil
import subprocess

import mqttutil as mu
import yw
from mqttutil import P
from yw import check, eq, wait_for

OUT = os.path.join(yw.BIN, "http-screenshots")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(env, url, *args, timeout=60):
    """Run headless chromium on URL; its stdout. Failure when it fails."""
    profile = os.path.join(env.dir, "chromium-profile")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--hide-scrollbars", "--window-size=412,1400",
            "--proxy-server=direct://", "--proxy-bypass-list=*"] + list(args) + [url]
    r = subprocess.run(argv, capture_output=True, timeout=timeout, start_new_session=True,
                       env=dict(os.environ, TZ="CST-8"))
    if r.returncode != 0:
        raise yw.Failure("chromium %s: exit %d: %s" % (url, r.returncode, r.stderr.decode()[-2000:]))
    return r.stdout.decode("utf-8", "replace")


@yw.with_env("http-browser")
def test_page_in_a_browser(env):
    check(CHROMIUM, "chromium is installed (tools/deps.sh)")
    broker = env.broker()
    extra = [{"id": "m1", "bus": "lan", "unit": 2, "profile": "chint-dtsu666", "poll_ms": 1000,
              "location": "Switch room <b>B</b>", "category": "power"},
             {"id": "r1", "bus": "lan", "unit": 3, "profile": "relay-8ch", "poll_ms": 1000,
              "location": "Stairwell 2"},
             {"id": "gone", "bus": "lan", "unit": 9, "profile": "pressure-transmitter",
              "poll_ms": 500, "location": "Roof tank", "offline_after": 2}]
    cfg, path, sim = mu.setup(env, broker.port, extra_devices=extra, delay_s=0)
    port = yw.free_port()
    cfg["http"] = {"listen": "127.0.0.1:%d" % port}
    path = env.write_config(cfg)
    env.sim_step(sim, {"offline": "gone"})
    sub = yw.Sub(broker.port, [P + "/alarm/#", P + "/status"])
    try:
        env.daemon(path, level="info", env={"TZ": "CST-8"})
        mu.wait_online(sub)
        yw.wait_port(port)
        env.sim_step(sim, {"set": {"p1.pressure": 0.2}})
        wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "gone.offline"), 10, "gone offline")
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p1-low"), 10, "p1-low raised")
        wait_for(lambda: len(env.cli_json(path, "alarms", "--active")) == 2, 5, "stored")
    finally:
        sub.close()

    os.makedirs(OUT, exist_ok=True)
    base = "http://127.0.0.1:%d" % port
    for name, url in (("status", base + "/"), ("point", base + "/point/p1.pressure")):
        png = os.path.join(OUT, name + ".png")
        if os.path.exists(png):
            os.unlink(png)
        chromium(env, url, "--screenshot=" + png)
        check(os.path.getsize(png) > 10000, "%s: a screenshot was taken" % png)
        with open(png, "rb") as f:
            eq(f.read(8), b"\x89PNG\r\n\x1a\n", "%s is a PNG" % png)
        print("screenshot: %s" % png)

    dom = chromium(env, base + "/", "--dump-dom")
    for dev in cfg["devices"]:
        check('id="dev-%s"' % dev["id"] in dom, "the DOM has a row for %s" % dev["id"])
    check("Fire water pressure low, building 3" in dom and "2 active alarms" in dom, "the alarms")
    check("Switch room &lt;b&gt;B&lt;/b&gt;" in dom and "<b>B</b>" not in dom, "markup as text")
    check("<script" not in dom, "no script")
    dom = chromium(env, base + "/point/p1.pressure", "--dump-dom")
    check("<svg" in dom and 'class="data"' in dom and 'class="threshold"' in dom,
          "the chart's <svg> with its data and threshold")
    check("+08:00" in dom, "local time with its offset")


if __name__ == "__main__":
    yw.run([test_page_in_a_browser])
