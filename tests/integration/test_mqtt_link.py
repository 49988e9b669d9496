"""The MQTT link under the faults seen in the field: a resolver that takes
20 s for the broker's name (tests/dnsshim: the loop keeps polling and
pinging the watchdog, and an alarm raised meanwhile is delivered once the
broker is reached); a second client taking over the daemon's client id
again and again (the daemon backs off and says so); a broker killed and
restarted on the same port (the daemon is back within seconds of each
return); a broker that lost every retained message (each device's status
is republished on connect); mqtt.command_qos 0 and 1; TLS to a broker
named by a (slow) name, its certificate verified against that name."""
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import yw
import mqttutil as mu
from yw import check, eq, wait_for
from mqttutil import P

DNS_SHIM = os.path.join(yw.BIN, "tests", "libywdnsshim.so")
CLIENT_ID = "test-site-gw1"      # the daemon's default: SITE-GATEWAY


def connects(env, name="daemon"):
    """The MQTT sessions the daemon has started, from its log."""
    return sum(1 for l in env.log(name).splitlines()
               if l.startswith("INFO mqtt: ") and l.endswith(": connected"))


class Notify:
    """A NOTIFY_SOCKET collecting (time, message) in a thread."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path)
        self.s.settimeout(0.2)
        self.got = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                self.got.append((time.monotonic(), self.s.recv(4096).decode()))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop = True
        self.t.join(2)
        self.s.close()


@yw.with_env("slowdns")
def test_slow_dns_never_blocks_the_loop(env):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port, delay_s=0)
    cfg["mqtt"]["brokers"] = ["mqtt://broker.yw.test:%d" % broker.port]
    path = env.write_config(cfg)
    notify = Notify(os.path.join(env.dir, "notify.sock"))
    sub = yw.Sub(broker.port, [P + "/#"])
    try:
        t0 = time.monotonic()
        d = env.daemon(path, env=yw.preload(DNS_SHIM, YW_DNS_NAME="broker.yw.test",
                                            YW_DNS_DELAY_MS="20000",
                                            NOTIFY_SOCKET=notify.s.getsockname(),
                                            WATCHDOG_USEC="2000000"))
        wait_for(lambda: any(p["id"] == "p1.pressure" and p["quality"] == "good"
                             for p in env.cli_json(path, "points")), 10, "p1 polled")
        polls0 = {x["id"]: x["polls"] for x in env.cli_json(path, "devices")}["p1"]
        env.sim_step(sim, {"set": {"p1.pressure": 0.05}})
        wait_for(lambda: [a for a in env.cli_json(path, "alarms", "--active") if a["alarm"] == "p1-low"],
                 5, "p1-low raised in the store while the name is being resolved")
        time.sleep(max(0, t0 + 12 - time.monotonic()))
        polls1 = {x["id"]: x["polls"] for x in env.cli_json(path, "devices")}["p1"]
        check(polls1 >= polls0 + 10, "polling goes on while resolving: %d -> %d" % (polls0, polls1))
        check(not mu.events(sub), "nothing on MQTT before the name resolves")
        check("cannot resolve host name broker.yw.test: no answer within 10 s" in env.log("daemon"),
              "the slow lookup is logged")
        ev = wait_for(lambda: mu.events(sub, lambda e: e["alarm"] == "p1-low" and e["state"] == "raised"),
                      t0 + 40 - time.monotonic(), "the raise delivered once the broker is reached")[0]
        took = time.monotonic() - t0
        check(took >= 19, "connected only once the lookup answered (%.1f s)" % took)
        mu.check_event(ev, alarm="p1-low", state="raised", severity="critical")
        pings = [t for t, m in notify.got if "WATCHDOG=1" in m]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        check(len(pings) >= 15, "watchdog pings while resolving: %d" % len(pings))
        check(max(gaps) < 1.6 * yw.SLOW, "no gap between pings reaches the watchdog period: %.2f s"
              % max(gaps))
        eq(env.stop(d), 0, "exit code")
    finally:
        notify.close()
        sub.close()


def mqtt_connect_packet(client_id):
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c"
    body = var + struct.pack(">H", len(cid)) + cid
    return bytes([0x10, len(body)]) + body


@yw.with_env("takeover")
def test_client_id_takeover_backs_off(env):
    broker = env.broker()
    cfg, path, sim = mu.setup(env, broker.port)
    d = env.daemon(path)
    wait_for(lambda: connects(env) >= 1, 10, "the daemon connected")
    n0 = connects(env)
    # Another "gateway" with the same client id connects every second.
    end = time.monotonic() + 20
    intruders = 0
    while time.monotonic() < end:
        s = socket.create_connection(("127.0.0.1", broker.port), timeout=2)
        s.sendall(mqtt_connect_packet(CLIENT_ID))
        eq(s.recv(4)[:2], b"\x20\x02", "CONNACK to the intruder")
        intruders += 1
        time.sleep(1)
        s.close()
    n = connects(env) - n0
    check(intruders >= 15, "the intruder connected %d times" % intruders)
    check(n <= 8, "the daemon backs off: %d connects in 20 s against %d takeovers" % (n, intruders))
    check("another client may be connected with client id \"%s\"" % CLIENT_ID in env.log("daemon"),
          "the takeover is logged")
    check(d.poll() is None, "still running")


@yw.with_env("flap")
def test_flapping_broker_reconnects_within_seconds(env):
    broker = env.broker()
    port = broker.port
    cfg, path, sim = mu.setup(env, port)
    env.daemon(path)
    wait_for(lambda: connects(env) >= 1, 10, "the daemon connected")
    for i in range(3):
        time.sleep(6)                    # a session that held
        env.stop(broker, signal.SIGKILL)
        n = connects(env)
        time.sleep(2)
        broker = env.broker(port=port)
        t = time.monotonic()
        wait_for(lambda: connects(env) > n, 5, "back within 5 s of the broker's return #%d" % (i + 1))
        took = time.monotonic() - t
        check(took < 5, "reconnected %.1f s after the return #%d" % (took, i + 1))


@yw.with_env("republish")
def test_every_retained_topic_republished_on_connect(env):
    broker = env.broker()
    port = broker.port
    more = [{"id": "p2", "bus": "lan", "unit": 2, "profile": "pressure-transmitter", "poll_ms": 500,
             "offline_after": 2}]
    cfg, path, sim = mu.setup(env, port, extra_devices=more)
    env.sim_step(sim, {"offline": "p2"})
    sub = yw.Sub(port, [P + "/#"])
    env.daemon(path)
    sub.wait(lambda t, p: t == P + "/device/p2/status" and p["online"] is False, 15, "p2 offline")
    sub.wait(lambda t, p: t == P + "/device/p1/status" and p["online"] is True, 15, "p1 online")
    sub.close()
    # The broker restarts without persistence: every retained message is gone.
    env.stop(broker, signal.SIGKILL)
    n = connects(env)
    broker = env.broker(port=port)
    wait_for(lambda: connects(env) > n, 10, "the daemon back")
    time.sleep(1)
    fresh = yw.Sub(port, [P + "/#"])
    try:
        def retained():
            with fresh.lock:
                return {t: p for (t, p, r, ts) in fresh.msgs if r}
        got = wait_for(lambda: (lambda r: r if len(r) >= 4 else None)(retained()), 5,
                       "retained topics for a fresh subscriber")
        eq(sorted(got), sorted([P + "/status", P + "/alarms/active", P + "/device/p1/status",
                                P + "/device/p2/status"]), "retained topics")
        eq(got[P + "/status"]["online"], True, "status online")
        eq(got[P + "/device/p1/status"]["online"], True, "p1 online")
        eq(got[P + "/device/p2/status"]["online"], False, "p2 offline")
        eq(got[P + "/device/p2/status"]["device"], "p2", "device field")
        mu.check_ts(got[P + "/device/p1/status"]["ts"], "ts")
        eq(got[P + "/alarms/active"]["alarms"][0]["alarm"], "p2.offline", "alarms/active")
    finally:
        fresh.close()


@yw.with_env("cmdqos")
def test_command_qos_0_and_1(env):
    for qos in (0, 1):
        broker = env.broker(extra="log_type all\n")
        cfg, path, sim = mu.setup(env, broker.port)
        cfg["mqtt"]["command_qos"] = qos
        path = env.write_config(cfg)
        sub = yw.Sub(broker.port, [P + "/cmd/result", P + "/status"])
        try:
            d = env.daemon(path, name="daemon-q%d" % qos)
            mu.wait_online(sub)
            wait_for(lambda: "cmd/+ (QoS %d)" % qos in env.log("mosquitto-%d" % broker.port), 5,
                     "subscribed with QoS %d" % qos)
            rid = "q%d" % qos
            sub.publish(P + "/cmd/read", {"id": rid, "point": "p1.pressure"})
            r = sub.wait(lambda t, p: t == P + "/cmd/result" and p.get("id") == rid, 10, "result")
            eq(r[-1][1], {"id": rid, "ok": True, "value": 0.35}, "read with command_qos %d" % qos)
            eq(env.stop(d), 0, "exit code")
        finally:
            sub.close()
            env.stop(sim)
            env.stop(broker)


def openssl(env, *args):
    subprocess.run(["openssl"] + list(args), cwd=env.dir, check=True, capture_output=True, timeout=60)


@yw.with_env("tlsname")
def test_tls_verifies_the_broker_name(env):
    """The lookup runs in a thread, but the certificate is still checked
    against the configured name: a certificate for another name is refused."""
    openssl(env, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=yw test ca")
    for name in ("broker", "other"):
        openssl(env, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s.yw.test" % name)
        with open(os.path.join(env.dir, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s.yw.test\n" % name)
        openssl(env, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")
    plain = env.broker()
    for name, good in (("broker", True), ("other", False)):
        port = yw.free_port()
        conf = os.path.join(env.dir, "tls-%s.conf" % name)
        with open(conf, "w") as f:
            f.write(yw.ROOT_USER + "listener %d 127.0.0.1\ncafile %s/ca.pem\ncertfile %s/%s.pem\n"
                    "keyfile %s/%s.key\nallow_anonymous true\npersistence false\n"
                    % (port, env.dir, env.dir, name, env.dir, name))
        env.spawn("mosquitto-tls-" + name, [yw.MOSQUITTO, "-c", conf])
        yw.wait_port(port)
        cfg, path, sim = mu.setup(env, port)
        cfg["mqtt"]["brokers"] = ["mqtts://broker.yw.test:%d" % port]
        cfg["mqtt"]["tls"] = {"ca_file": os.path.join(env.dir, "ca.pem")}
        path = env.write_config(cfg)
        log = "daemon-" + name
        d = env.daemon(path, name=log, env=yw.preload(DNS_SHIM, YW_DNS_NAME="broker.yw.test",
                                                     YW_DNS_DELAY_MS="1500"))
        if good:
            wait_for(lambda: connects(env, log) >= 1, 15, "connected over TLS to broker.yw.test")
        else:
            # "TLS setup failed" when the handshake ran inside the attempt's
            # thread, "TLS handshake failed" when it ran in the loop
            wait_for(lambda: "host name verification failed" in env.log(log),
                     15, "a certificate for other.yw.test refused")
            time.sleep(2)
            eq(connects(env, log), 0, "never connected to a broker with another name")
        eq(env.stop(d), 0, "exit code")
        env.stop(sim)
    env.stop(plain)


if __name__ == "__main__":
    import sys
    tests = [test_slow_dns_never_blocks_the_loop, test_client_id_takeover_backs_off,
             test_flapping_broker_reconnects_within_seconds,
             test_every_retained_topic_republished_on_connect, test_command_qos_0_and_1,
             test_tls_verifies_the_broker_name]
    yw.run([t for t in tests if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
