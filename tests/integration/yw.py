"""Integration-test harness: starts the real programs (mosquitto, yardwatch-sim,
yardwatchd) on 127.0.0.1, each tracked by PID and stopped at the end, and
gives small helpers to subscribe, wait and query the store.

Every wait is bounded. A test is a plain function; `run(tests)` runs them,
prints one line per test and the closing 'N passed, N failed' line, and exits
non-zero on any failure."""

import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRC = os.environ.get("YW_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("YW_BIN") or os.path.join(SRC, "build")
PROFILES = os.path.join(SRC, "config", "profiles")
DAEMON = os.path.join(BIN, "yardwatchd")
CLI = os.path.join(BIN, "yardwatch")
SIM = os.path.join(BIN, "yardwatch-sim")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
# YW_WRAP runs our programs through a wrapper, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"
# for the arm64 build; mosquitto, socat and openssl run natively.
WRAP = shlex.split(os.environ.get("YW_WRAP", ""))
SLOW = float(os.environ.get("YW_SLOW", "1"))   # time factor for emulated runs


def ours(argv):
    """ARGV with the wrapper in front when it runs one of our programs."""
    if WRAP and argv and argv[0] in (DAEMON, CLI, SIM):
        return WRAP + list(argv)
    return list(argv)


# mosquitto started as root drops to the "mosquitto" user, which cannot read
# the test's private temp dir: keep it root there.
ROOT_USER = "user root\n" if os.geteuid() == 0 else ""


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what, interval=0.05):
    """Poll PRED until it returns a true value; Failure after TIMEOUT s."""
    timeout *= SLOW
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
        except (Failure, KeyError, IndexError, TypeError) as e:
            # e.g. the store is not there yet, or a row not yet written
            v, last = None, e
        if v:
            return v
        if time.monotonic() > end:
            raise Failure("timed out after %.1fs waiting for %s%s" %
                          (timeout, what, " (last error: %s)" % last if last else ""))
        time.sleep(interval)


def wait_port(port, timeout=10):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    wait_for(up, timeout, "port %d" % port)


class Env:
    """One test's world: a temp dir and the processes it started."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="yw-%s-" % name)
        self.procs = []
        self.logs = {}

    # -- processes --
    def spawn(self, name, argv, stdin=None, env=None):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        e = dict(os.environ)
        if env:
            e.update(env)
        p = subprocess.Popen(ours(argv), stdout=log, stderr=subprocess.STDOUT, stdin=stdin,
                             env=e, start_new_session=True)
        log.close()
        p.yw_name = name
        self.procs.append(p)
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        return p.returncode

    def cleanup(self, keep=False):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            if p.stdin:
                try:
                    p.stdin.close()
                except OSError:
                    pass
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- broker --
    def broker(self, port=None, extra=""):
        port = port or free_port()
        conf = os.path.join(self.dir, "mosquitto-%d.conf" % port)
        with open(conf, "w") as f:
            f.write("%slistener %d 127.0.0.1\nallow_anonymous true\npersistence false\n%s\n"
                    % (ROOT_USER, port, extra))
        p = self.spawn("mosquitto-%d" % port, [MOSQUITTO, "-c", conf])
        wait_port(port)
        p.port = port
        return p

    # -- simulator --
    def sim(self, config, port=None, scenario=None, rtu=None, stats=True):
        argv = [SIM, "-c", config, "--profiles", PROFILES, "--control"]
        if rtu:
            argv += ["--rtu", rtu]
        else:
            port = port or free_port()
            argv += ["--tcp", "127.0.0.1:%d" % port]
        if scenario:
            argv += ["--scenario", scenario]
        statsf = os.path.join(self.dir, "sim-stats.json")
        if stats:
            argv += ["--stats", statsf]
        p = self.spawn("sim", argv, stdin=subprocess.PIPE)
        p.port = port
        p.stats_file = statsf
        if not rtu:
            wait_port(port)
        else:
            time.sleep(0.3)
        return p

    def sim_step(self, sim, step):
        sim.stdin.write((json.dumps(step) + "\n").encode())
        sim.stdin.flush()

    def sim_stats(self, sim):
        try:
            with open(sim.stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    # -- daemon --
    def write_config(self, cfg, name="yardwatch.json"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def daemon(self, config, name="daemon", level="debug", env=None):
        return self.spawn(name, [DAEMON, "-c", config, "--log-level", level], env=env)

    def cli(self, config, *args, timeout=20):
        flag = "--db" if config.endswith(".db") else "-c"
        r = subprocess.run(ours([CLI, flag, config] + list(args)), capture_output=True,
                           timeout=timeout)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def cli_json(self, config, *args):
        rc, out, err = self.cli(config, *args, "--json")
        if rc != 0:
            raise Failure("yardwatch %s: exit %d: %s" % (" ".join(args), rc, err))
        return json.loads(out)


def preload(shim, **env):
    """The environment that LD_PRELOADs SHIM (a test shim of tests/, e.g. the
    clock or DNS shim) into one of our programs, plus ENV. An ASan build
    wants its runtime first in the library list: tell it the shim may come
    before it."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    e = {"LD_PRELOAD": shim,
         "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
    e.update(env)
    return e


def base_config(env, devices, buses, mqtt_port=None, alarms=None, **extra):
    cfg = {
        "site": {"id": "test-site", "name": "Test compound", "gateway": "gw1"},
        "storage": {"path": os.path.join(env.dir, "yw.db")},
        "control_socket": os.path.join(env.dir, "ctl.sock"),
        "profiles_dir": PROFILES,
        "buses": buses,
        "devices": devices,
    }
    if alarms:
        cfg["alarms"] = alarms
    if mqtt_port:
        cfg["mqtt"] = {"brokers": ["mqtt://127.0.0.1:%d" % mqtt_port],
                       "keepalive_s": 5, "telemetry": {"interval_s": 2}}
    cfg.update(extra)
    return cfg


class Sub:
    """A paho subscriber collecting (topic, payload, retained, time)."""
    count = 0

    def __init__(self, port, topics):
        import paho.mqtt.client as mqtt
        self.msgs = []
        self.lock = threading.Lock()
        Sub.count += 1
        self.c = mqtt.Client(client_id="yw-test-%d-%d-%d" % (os.getpid(), port, Sub.count),
                             clean_session=True)
        self.c.on_message = self._on_msg
        self.connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc: (c.subscribe([(t, 1) for t in topics]),
                                                 self.connected.set())
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise Failure("subscriber could not connect to 127.0.0.1:%d" % port)
        time.sleep(0.2)

    def _on_msg(self, c, u, m):
        try:
            payload = json.loads(m.payload.decode()) if m.payload else None
        except ValueError:
            payload = m.payload
        with self.lock:
            self.msgs.append((m.topic, payload, bool(m.retain), time.monotonic()))

    def all(self, pred=lambda t, p: True):
        with self.lock:
            return [(t, p) for (t, p, r, ts) in self.msgs if pred(t, p)]

    def wait(self, pred, timeout, what):
        return wait_for(lambda: self.all(pred), timeout, what)

    def publish(self, topic, payload, qos=1):
        if not isinstance(payload, (str, bytes)):
            payload = json.dumps(payload)
        self.c.publish(topic, payload, qos=qos)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def db(path):
    """Open the store read-only."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    return con


def run(tests):
    passed = failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            passed += 1
            print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            print("FAIL %s (%.1fs): %s" % (t.__name__, time.monotonic() - start, e), flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def with_env(name):
    """Decorator: give the test an Env, always clean it up; on failure print
    the logs of the processes it started."""
    def deco(fn):
        def wrapper():
            env = Env(name)
            try:
                fn(env)
            except Exception:
                for p in env.procs:
                    print("---- %s log (tail) ----" % p.yw_name)
                    print(env.log(p.yw_name)[-3000:])
                raise
            finally:
                env.cleanup(keep=bool(os.environ.get("YW_KEEP")))
        wrapper.__name__ = fn.__name__
        return wrapper
    return deco


def modbus_tcp(port, unit, fc, addr, count_or_value, timeout=2.0):
    """A minimal Modbus TCP client for checks from the test side: FC 1-4 read
    (returns a list of bits or registers), FC 5 write a coil (value bool),
    FC 6 write a register. Raises Failure on an exception reply."""
    import struct
    if fc in (1, 2, 3, 4):
        pdu = struct.pack(">BHH", fc, addr, count_or_value)
    elif fc == 5:
        pdu = struct.pack(">BHH", fc, addr, 0xFF00 if count_or_value else 0)
    elif fc == 6:
        pdu = struct.pack(">BHH", fc, addr, count_or_value & 0xFFFF)
    else:
        raise ValueError(fc)
    adu = struct.pack(">HHHB", 0x1234, 0, len(pdu) + 1, unit) + pdu
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(adu)
        hdr = b""
        while len(hdr) < 7:
            chunk = s.recv(7 - len(hdr))
            if not chunk:
                raise Failure("modbus: connection closed")
            hdr += chunk
        tid, proto, length, u = struct.unpack(">HHHB", hdr)
        body = b""
        while len(body) < length - 1:
            chunk = s.recv(length - 1 - len(body))
            if not chunk:
                raise Failure("modbus: connection closed")
            body += chunk
    finally:
        s.close()
    if body[0] & 0x80:
        raise Failure("modbus: exception %d" % body[1])
    if fc in (1, 2):
        n = body[1]
        bits = []
        for i in range(count_or_value):
            bits.append(bool(body[2 + i // 8] >> (i % 8) & 1))
        return bits
    if fc in (3, 4):
        return [struct.unpack(">H", body[2 + 2 * i:4 + 2 * i])[0] for i in range(count_or_value)]
    return True


def proc_cpu_seconds(pid):
    """utime + stime of PID in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_field(pid, name, key):
    """The first number of the line KEY: of /proc/PID/NAME (0 when none)."""
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_rss_kb(pid):
    return proc_field(pid, "status", "VmRSS")


def io_wchar(pid):
    """Bytes the process has written (to files, sockets, pipes)."""
    return proc_field(pid, "io", "wchar")
