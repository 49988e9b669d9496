"""TLS to the broker with a username and password: the daemon connects and
delivers; with the wrong CA it is refused, says so clearly in its log, and
retries with backoff (no busy loop)."""
import os
import subprocess
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P


def openssl(env, *args):
    subprocess.run(["openssl"] + list(args), cwd=env.dir, check=True, capture_output=True, timeout=60)


def make_pki(env):
    for ca in ("ca", "wrongca"):
        openssl(env, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", ca + ".key", "-out", ca + ".pem", "-subj", "/CN=yardwatch test " + ca)
    openssl(env, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(env.dir, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl(env, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")


@yw.with_env("tls")
def test_tls_user_password_and_wrong_ca(env):
    make_pki(env)
    pwfile = os.path.join(env.dir, "passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", pwfile, "gw1", "s3cret-pw"], check=True,
                   capture_output=True, timeout=20)
    tls_port, plain_port = yw.free_port(), yw.free_port()
    d = env.dir
    conf = os.path.join(d, "tls.conf")
    with open(conf, "w") as f:
        f.write(yw.ROOT_USER + "per_listener_settings true\n"
                "listener %d 127.0.0.1\ncafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n"
                "allow_anonymous false\npassword_file %s\n"
                "listener %d 127.0.0.1\nallow_anonymous true\n" % (tls_port, d, d, d, pwfile, plain_port))
    env.spawn("mosquitto", [yw.MOSQUITTO, "-c", conf])
    yw.wait_port(tls_port)
    yw.wait_port(plain_port)
    secret = os.path.join(d, "mqtt.secret")
    with open(secret, "w") as f:
        f.write("s3cret-pw\n")

    cfg, path, sim = mu.setup(env, tls_port)
    cfg["mqtt"]["brokers"] = ["mqtts://127.0.0.1:%d" % tls_port]
    cfg["mqtt"]["username"] = "gw1"
    cfg["mqtt"]["password_file"] = secret
    cfg["mqtt"]["tls"] = {"ca_file": os.path.join(d, "ca.pem")}
    path = env.write_config(cfg)
    sub = yw.Sub(plain_port, [P + "/#"])
    try:
        dm = env.daemon(path)
        mu.wait_online(sub, 20)
        sub.wait(lambda t, p: t.startswith(P + "/telemetry/p1"), 15, "telemetry over TLS")
        eq(env.stop(dm), 0, "exit code")
        check("s3cret-pw" not in env.log("daemon"), "the password never appears in the log")

        # Wrong CA: refused, a clear log line, bounded retries, little CPU.
        cfg["mqtt"]["tls"] = {"ca_file": os.path.join(d, "wrongca.pem")}
        cfg["site"]["gateway"] = "gw2"
        cfg["storage"]["path"] = os.path.join(d, "gw2.db")
        path2 = env.write_config(cfg, "gw2.json")
        dm2 = env.daemon(path2, name="daemon-wrongca", level="info")
        time.sleep(8)
        log = env.log("daemon-wrongca")
        lines = [l for l in log.splitlines() if l.startswith("WARN mqtt") or l.startswith("ERROR mqtt")]
        check(lines, "a log line about the refused broker:\n" + log[-2000:])
        check(any("certificate" in l.lower() or "tls" in l.lower() for l in lines),
              "the line says it is about TLS/the certificate: %r" % lines[:3])
        check(len(lines) <= 8, "attempts with backoff, not a storm: %d lines in 8 s" % len(lines))
        cpu = yw.proc_cpu_seconds(dm2.pid)
        check(cpu < 1.0, "no busy loop: %.2fs CPU in 8 s" % cpu)
        eq([p for t, p in sub.all(lambda t, p: t.startswith("yardwatch/test-site/gw2/"))], [],
           "nothing delivered through an unverified broker")
        eq(env.stop(dm2), 0, "exit code")
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_tls_user_password_and_wrong_ca])
