"""yardwatch-sim as a Modbus server, checked with hand-rolled Modbus TCP and RTU
clients (socket + struct; termios for the pty): register maps and values of
config/demo.json, exceptions, writes, live control, offline silence, the
statistics file, scenarios, and RTU framing over a socat pty pair."""

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from yw import ours, SIM, SRC, PROFILES, Failure, check, eq, run, wait_for, with_env  # noqa: E402

DEMO = os.path.join(SRC, "config", "demo.json")
SOCAT = shutil.which("socat") or "/usr/bin/socat"


def demo_units():
    with open(DEMO) as f:
        return {d["id"]: d["unit"] for d in json.load(f)["devices"]}


class ModbusError(Exception):
    def __init__(self, fc, code):
        Exception.__init__(self, "fc %d: exception %d" % (fc, code))
        self.fc = fc
        self.code = code


def pdu_read(fc, addr, qty):
    return struct.pack(">BHH", fc, addr, qty)


def parse_reply(req, rsp):
    """Response PDU -> registers (FC3/4), bits (FC1/2) or the echo (writes)."""
    fc = req[0]
    if rsp[0] == fc | 0x80:
        raise ModbusError(fc, rsp[1])
    eq(rsp[0], fc, "function code of the reply")
    if fc in (3, 4):
        eq(rsp[1], len(rsp) - 2, "byte count")
        return list(struct.unpack(">%dH" % (rsp[1] // 2), rsp[2:]))
    if fc in (1, 2):
        qty = struct.unpack(">H", req[3:5])[0]
        eq(rsp[1], (qty + 7) // 8, "byte count")
        return [(rsp[2 + i // 8] >> (i % 8)) & 1 for i in range(qty)]
    return rsp


class TcpClient:
    def __init__(self, port, timeout=1.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.tid = 0

    def _recv(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise Failure("simulator closed the connection")
            b += chunk
        return b

    def pdu(self, unit, req):
        self.tid = (self.tid + 1) & 0xFFFF
        self.s.sendall(struct.pack(">HHHB", self.tid, 0, len(req) + 1, unit) + req)
        tid, proto, length, u = struct.unpack(">HHHB", self._recv(7))
        eq((tid, proto, u), (self.tid, 0, unit), "MBAP header of the reply")
        return self._recv(length - 1)

    def call(self, unit, req):
        return parse_reply(req, self.pdu(unit, req))

    def send(self, unit, req):
        """Sends REQ without waiting; returns its transaction id."""
        self.tid = (self.tid + 1) & 0xFFFF
        self.s.sendall(struct.pack(">HHHB", self.tid, 0, len(req) + 1, unit) + req)
        return self.tid

    def collect(self, wait, quiet=0.2):
        """Every byte that arrives until QUIET s pass without one (or WAIT s
        with nothing at all); also returns when the peer closes."""
        buf = b""
        end = time.monotonic() + wait
        while True:
            t = quiet if buf else end - time.monotonic()
            if t <= 0:
                return buf
            r, _, _ = select.select([self.s], [], [], t)
            if not r:
                return buf
            chunk = self.s.recv(4096)
            if not chunk:
                return buf
            buf += chunk

    def raw(self, unit, req, wait=1.0):
        """Sends REQ; returns (its transaction id, the raw bytes that came back)."""
        tid = self.send(unit, req)
        return tid, self.collect(wait)

    def read(self, unit, fc, addr, qty):
        return self.call(unit, pdu_read(fc, addr, qty))

    def close(self):
        self.s.close()


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class RtuClient:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        a = termios.tcgetattr(self.fd)
        a[0] = 0                                  # iflag
        a[1] = 0                                  # oflag
        a[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
        a[3] = 0                                  # lflag: raw, no echo
        a[4] = a[5] = termios.B9600
        a[6][termios.VMIN] = 0
        a[6][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, a)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def send(self, frame):
        os.write(self.fd, frame)

    def recv(self, timeout):
        """Bytes until the line is quiet for 100 ms (or TIMEOUT with nothing)."""
        buf = b""
        end = time.monotonic() + timeout
        while True:
            wait = 0.1 if buf else end - time.monotonic()
            if wait <= 0:
                return buf
            r, _, _ = select.select([self.fd], [], [], wait)
            if not r:
                return buf
            buf += os.read(self.fd, 512)

    def call(self, unit, req, timeout=1.0):
        frame = bytes([unit]) + req
        c = crc16(frame)
        self.send(frame + bytes([c & 0xFF, c >> 8]))
        rsp = self.recv(timeout)
        check(len(rsp) >= 5, "rtu: no (or short) reply to unit %d: %r" % (unit, rsp))
        c = crc16(rsp[:-2])
        eq(rsp[-2:], bytes([c & 0xFF, c >> 8]), "rtu reply CRC")
        eq(rsp[0], unit, "rtu reply unit")
        return parse_reply(req, rsp[1:-2])

    def close(self):
        os.close(self.fd)


def mbap(tid, unit, pdu):
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def rtu_adu(unit, pdu):
    frame = bytes([unit]) + pdu
    c = crc16(frame)
    return frame + bytes([c & 0xFF, c >> 8])


def other_unit(unit):
    """The unit id a wrong_unit answer carries (docs/simulator.md)."""
    return unit % 247 + 1


# -- the simulator process --

def start_sim(env, *args, config=DEMO, tcp=True, control=True, stats=True, name="sim"):
    argv = [SIM, "-c", config, "--profiles", PROFILES, "--seed", "7"]
    if tcp:
        argv += ["--tcp", "127.0.0.1:0"]
    if control:
        argv += ["--control"]
    p_stats = os.path.join(env.dir, name + "-stats.json")
    if stats:
        argv += ["--stats", p_stats]
    argv += list(args)
    out = open(os.path.join(env.dir, name + ".out"), "wb")
    err = open(os.path.join(env.dir, name + ".log"), "wb")
    p = subprocess.Popen(ours(argv), stdin=subprocess.PIPE if control else subprocess.DEVNULL,
                         stdout=out, stderr=err, start_new_session=True)
    out.close()
    err.close()
    p.yw_name = name
    env.procs.append(p)
    p.stats_file = p_stats
    p.out_file = os.path.join(env.dir, name + ".out")
    p.replies = 0
    if tcp:
        def port():
            for line in env.log(name).splitlines():
                if "listening on tcp 127.0.0.1:" in line:
                    return int(line.rsplit(":", 1)[1])
            check(p.poll() is None, "simulator exited: %s" % env.log(name))
            return None
        p.port = wait_for(port, 10, "the simulator's listening line")
    return p


def stop_sim(p):
    """SIGTERM; the simulator must exit 0 (and write its stats)."""
    os.kill(p.pid, signal.SIGTERM)
    eq(p.wait(15), 0, "simulator exit status on SIGTERM")


def out_lines(p):
    with open(p.out_file, "rb") as f:
        return f.read().decode().splitlines()


def control(p, step):
    """Sends one control step; returns the simulator's reply line."""
    p.stdin.write((json.dumps(step) + "\n").encode())
    p.stdin.flush()
    n = p.replies
    p.replies += 1
    return wait_for(lambda: len(out_lines(p)) > n and out_lines(p)[n], 5,
                    "reply to %r" % step)


def stats(p):
    try:
        with open(p.stats_file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def expect_exc(code, fn, *args):
    try:
        fn(*args)
    except ModbusError as e:
        eq(e.code, code, "exception code")
        return
    raise Failure("expected exception %d, got a normal reply" % code)


U = demo_units()


@with_env("sim-read")
def test_tcp_values(env):
    p = start_sim(env)
    c = TcpClient(p.port)
    unit = U["b3-pressure"]
    regs = c.read(unit, 3, 0, 5)
    eq(regs[0], unit, "modbus_address register")
    eq(regs[3], 3, "decimals register")
    raw = struct.unpack(">h", struct.pack(">H", regs[4]))[0]
    check(abs(raw - 350) <= 4, "pressure raw %d not 0.35 MPa +- 1 %%" % raw)
    # DTSU666: float32 ABCD, scale 0.1 V -> 2300.0 in the register for 230 V
    m = c.read(U["b3-meter"], 3, 0x2006, 2)
    ua = struct.unpack(">f", struct.pack(">HH", *m))[0] * 0.1
    check(abs(ua - 230) < 2.5, "meter ua %.2f V not ~230 V" % ua)
    f = c.read(U["b3-meter"], 3, 0x2044, 2)
    hz = struct.unpack(">f", struct.pack(">HH", *f))[0] * 0.01
    check(abs(hz - 50) < 0.6, "frequency %.3f not ~50 Hz" % hz)
    eq(c.read(U["b3-cameras"], 2, 0, 4), [1, 1, 1, 1], "camera power/online inputs")
    eq(c.read(U["b3-stairs"], 1, 0, 8), [0] * 8, "relays at start")
    eq(c.read(U["b3-stairs"], 2, 0, 8), [0] * 8, "relay module inputs")
    # a second client at the same time
    c2 = TcpClient(p.port)
    eq(c2.read(unit, 3, 3, 1), [3], "second client")
    c2.close()
    c.close()
    stop_sim(p)


@with_env("sim-exc")
def test_tcp_exceptions(env):
    p = start_sim(env)
    c = TcpClient(p.port)
    unit = U["b3-pressure"]
    expect_exc(2, c.read, unit, 3, 5, 1)          # unmapped
    expect_exc(2, c.read, unit, 3, 4, 2)          # touches an unmapped register
    expect_exc(2, c.read, unit, 4, 0, 1)          # no input registers at all
    expect_exc(2, c.read, U["b3-meter"], 3, 0x2020, 12)  # across the hole 0x2022..0x2029
    eq(len(c.read(U["b3-meter"], 3, 0x2000, 0x22)), 0x22, "a read of the contiguous block")
    expect_exc(3, c.read, unit, 3, 0, 0)          # quantity 0
    expect_exc(3, c.read, unit, 3, 0, 126)        # quantity > 125
    expect_exc(1, c.call, unit, bytes([7]))       # read exception status: unsupported
    expect_exc(2, c.call, unit, struct.pack(">BHH", 6, 9, 1))   # write unmapped
    expect_exc(3, c.call, U["b3-stairs"], struct.pack(">BHH", 5, 0, 0x1234))
    c.close()
    stop_sim(p)


@with_env("sim-write")
def test_tcp_writes(env):
    p = start_sim(env)
    c = TcpClient(p.port)
    st = U["b3-stairs"]
    echo = c.call(st, struct.pack(">BHH", 5, 2, 0xFF00))
    eq(echo, struct.pack(">BHH", 5, 2, 0xFF00), "FC5 echo")
    eq(c.read(st, 1, 0, 8), [0, 0, 1, 0, 0, 0, 0, 0], "coil read back")
    eq(control(p, {"get": "b3-stairs.relay3"}), "ok true", "control get of the coil")
    c.call(st, struct.pack(">BHHBB", 15, 4, 4, 1, 0b1011))
    eq(c.read(st, 1, 0, 8), [0, 0, 1, 0, 1, 1, 0, 1], "FC15 read back")
    expect_exc(2, c.call, st, struct.pack(">BHHBB", 15, 6, 3, 1, 7))   # 8 is unmapped
    # holding register write on the pressure transmitter: decimals 3 -> 2
    unit = U["b3-pressure"]
    before = c.read(unit, 3, 4, 1)[0]
    c.call(unit, struct.pack(">BHH", 6, 3, 2))
    regs = c.read(unit, 3, 3, 2)
    eq(regs[0], 2, "decimals after FC6")
    check(abs(regs[1] - round(before / 10)) <= 1,
          "pressure rescaled to 2 decimals: %d (was %d)" % (regs[1], before))
    c.call(unit, struct.pack(">BHHBHH", 16, 3, 2, 4, 3, 123))
    eq(c.read(unit, 3, 3, 2), [3, 123], "FC16 read back")
    time.sleep(1.2)   # written values are pinned: no drift
    eq(c.read(unit, 3, 3, 2), [3, 123], "written value does not drift")
    c.close()
    stop_sim(p)


@with_env("sim-control")
def test_control(env):
    p = start_sim(env)
    c = TcpClient(p.port)
    unit = U["b3-pressure"]
    eq(control(p, {"set": {"b3-pressure.pressure": 0.08}}), "ok", "set reply")
    eq(c.read(unit, 3, 4, 1), [80], "pressure after set")
    time.sleep(1.2)
    eq(c.read(unit, 3, 4, 1), [80], "a pinned value does not drift")
    eq(control(p, {"get": "b3-pressure.pressure"}), "ok 0.08", "get")
    eq(control(p, {"set": {"b3-stairs.input1": True, "b3-stairs.input2": 1}}), "ok", "bools")
    eq(c.read(U["b3-stairs"], 2, 0, 3), [1, 1, 0], "inputs after set")
    r = control(p, {"set": {"b3-pressure.nope": 1}})
    check(r.startswith("error: ") and "nope" in r, "unknown point refused: %r" % r)
    r = control(p, {"set": {"b3-pressure.pressure": 99}})
    check(r.startswith("error: ") and "range" in r, "out of range refused: %r" % r)
    r = control(p, {"at_s": 3, "online": "b3-meter"})
    check(r.startswith("error: "), "at_s refused in control: %r" % r)
    r = control(p, {"bogus": 1})
    check(r.startswith("error: "), "unknown action refused: %r" % r)
    p.stdin.write(b"{not json\n")
    p.stdin.flush()
    p.replies += 1
    wait_for(lambda: len(out_lines(p)) >= p.replies and
             out_lines(p)[p.replies - 1].startswith("error: "), 5, "reply to bad JSON")
    check("t=0s set b3-pressure.pressure=0.08" in env.log("sim") or
          "set b3-pressure.pressure=0.08" in env.log("sim"), "set logged")
    # exception injection and clearing
    eq(control(p, {"exception": {"device": "b1-meter", "code": 4}}), "ok", "exception")
    expect_exc(4, c.read, U["b1-meter"], 3, 0x2000, 2)
    eq(control(p, {"exception": {"device": "b1-meter", "code": 0}}), "ok", "clear")
    eq(len(c.read(U["b1-meter"], 3, 0x2000, 2)), 2, "normal after clearing")
    # illegal range on mapped registers
    eq(control(p, {"illegal": {"device": "b1-pressure", "table": "holding", "start": 4,
                               "count": 1}}), "ok", "illegal")
    expect_exc(2, c.read, U["b1-pressure"], 3, 3, 2)
    eq(c.read(U["b1-pressure"], 3, 3, 1), [3], "outside the illegal range")
    eq(control(p, {"illegal": {"device": "b1-pressure", "table": "holding", "count": 0}}),
       "ok", "illegal cleared")
    eq(len(c.read(U["b1-pressure"], 3, 3, 2)), 2, "after clearing")
    # EOF on stdin with --control does not stop the simulator
    p.stdin.close()
    time.sleep(0.3)
    check(p.poll() is None, "simulator still runs after EOF on stdin")
    eq(c.read(unit, 3, 4, 1), [80], "still serving")
    c.close()
    stop_sim(p)


@with_env("sim-offline")
def test_offline(env):
    p = start_sim(env)
    c = TcpClient(p.port, timeout=0.5)
    eq(control(p, {"offline": "b3-meter"}), "ok", "offline")
    try:
        c.read(U["b3-meter"], 3, 0x2000, 2)
        raise Failure("offline device answered")
    except socket.timeout:
        pass
    # the same connection still serves the other units
    eq(c.read(U["b3-pressure"], 3, 3, 1), [3], "neighbour on the same connection")
    eq(control(p, {"online": "b3-meter"}), "ok", "online")
    eq(len(c.read(U["b3-meter"], 3, 0x2000, 2)), 2, "back online")
    # a unit that is not configured is silent too
    try:
        c.read(200, 3, 0, 1)
        raise Failure("unknown unit answered")
    except socket.timeout:
        pass
    c.close()
    wait_for(lambda: (stats(p) or {}).get("unknown_unit") == 1, 3, "unknown_unit counted")
    s = stats(p)["devices"]["b3-meter"]
    eq((s["requests"], s["ignored"], s["reads"]), (2, 1, 1), "b3-meter counts")
    stop_sim(p)


@with_env("sim-stats")
def test_stats(env):
    p = start_sim(env)
    wait_for(lambda: stats(p), 5, "initial stats file")
    eq(stats(p)["requests_total"], 0, "no requests yet")
    c = TcpClient(p.port)
    for _ in range(5):
        c.read(U["b2-pressure"], 3, 3, 2)
    expect_exc(2, c.read, U["b2-pressure"], 3, 5, 1)
    c.read(U["b2-stairs"], 1, 0, 8)
    c.call(U["b2-stairs"], struct.pack(">BHH", 5, 0, 0xFF00))
    c.close()
    want_p = {"requests": 6, "reads": 5, "writes": 0, "exceptions": 1, "ignored": 0,
              "fc3": 6, "fc1": 0}
    want_s = {"requests": 2, "reads": 1, "writes": 1, "exceptions": 0, "fc1": 1, "fc5": 1}

    def done():
        s = stats(p)
        return s if s and s["requests_total"] == 8 else None
    s = wait_for(done, 3, "stats with 8 requests")
    for k, v in want_p.items():
        eq(s["devices"]["b2-pressure"][k], v, "b2-pressure " + k)
    for k, v in want_s.items():
        eq(s["devices"]["b2-stairs"][k], v, "b2-stairs " + k)
    eq(s["devices"]["b1-meter"]["requests"], 0, "untouched device")
    # SIGUSR1 prints the same on stdout
    os.kill(p.pid, signal.SIGUSR1)
    line = wait_for(lambda: [x for x in out_lines(p) if x.startswith("{")], 5, "SIGUSR1 output")
    eq(json.loads(line[0])["requests_total"], 8, "SIGUSR1 requests_total")
    stop_sim(p)
    eq(stats(p)["requests_total"], 8, "stats written on exit")
    check(not os.path.exists(p.stats_file + ".tmp"), "no temp file left")


@with_env("sim-scenario")
def test_scenario(env):
    sc = os.path.join(env.dir, "scenario.json")
    with open(sc, "w") as f:
        json.dump([{"at_s": 1, "set": {"b3-pressure.pressure": 0.05}},
                   {"at_s": 0, "drift": False},
                   {"at_s": 1.2, "offline": "b5-meter"}], f)
    t0 = time.monotonic()
    p = start_sim(env, "--scenario", sc, "--duration", "3", control=False)
    c = TcpClient(p.port, timeout=0.5)
    first = c.read(U["b3-pressure"], 3, 4, 1)[0]
    check(abs(first - 350) <= 4, "before the step: %d" % first)
    wait_for(lambda: c.read(U["b3-pressure"], 3, 4, 1) == [50], 3, "scenario set at 1 s")
    check(time.monotonic() - t0 >= 0.9, "set applied too early")
    wait_for(lambda: "offline b5-meter" in env.log("sim"), 3, "offline step logged")
    check("INFO sim: t=1s set b3-pressure.pressure=0.05" in env.log("sim"),
          "step log line: %s" % env.log("sim"))
    c.close()
    eq(p.wait(6), 0, "exit status after --duration")
    check(time.monotonic() - t0 < 5.5, "--duration 3 stopped in time")


@with_env("sim-usage")
def test_usage_and_bad_scenario(env):
    r = subprocess.run(ours([SIM, "-c", DEMO, "--profiles", PROFILES]), capture_output=True,
                       timeout=10)
    eq(r.returncode, 64, "no --tcp/--rtu")
    sc = os.path.join(env.dir, "bad.json")
    with open(sc, "w") as f:
        json.dump([{"at_s": 1, "set": {"b3-pressure.pressure": 0.05}},
                   {"at_s": 2, "offline": "nosuch"},
                   {"set": {"b3-pressure.pressure": "x"}},
                   {"at_s": 3, "exception": {"device": "b1-meter", "code": 300}}], f)
    r = subprocess.run(ours([SIM, "-c", DEMO, "--profiles", PROFILES, "--tcp", "127.0.0.1:0",
                             "--scenario", sc]), capture_output=True, timeout=10)
    eq(r.returncode, 65, "bad scenario exit status")
    err = r.stderr.decode()
    for want in ['[1].offline: unknown device "nosuch"', "[2]: missing \"at_s\"",
                 "[2].set.b3-pressure.pressure: must be a number", "[3].exception.code"]:
        check(want in err, "scenario error %r in %r" % (want, err))
    with open(sc, "w") as f:
        f.write('[{"at_s": 1,\n "set": }]')
    r = subprocess.run(ours([SIM, "-c", DEMO, "--profiles", PROFILES, "--tcp", "127.0.0.1:0",
                             "--scenario", sc]), capture_output=True, timeout=10)
    eq(r.returncode, 65, "scenario syntax error exit status")
    check(sc + ":2:" in r.stderr.decode(), "line of the syntax error: %r" % r.stderr)


@with_env("sim-rtu")
def test_rtu(env):
    a, b = os.path.join(env.dir, "a"), os.path.join(env.dir, "b")
    so = subprocess.Popen([SOCAT, "-d", "-d", "pty,raw,echo=0,link=" + a,
                           "pty,raw,echo=0,link=" + b],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    so.yw_name = "socat"
    env.procs.append(so)
    wait_for(lambda: os.path.exists(a) and os.path.exists(b), 5, "socat ptys")
    p = start_sim(env, "--rtu", a, tcp=False)
    wait_for(lambda: "serving rtu" in env.log("sim"), 5, "rtu line open")
    r = RtuClient(b)
    try:
        unit = U["b3-pressure"]
        regs = r.call(unit, pdu_read(3, 3, 2))
        eq(regs[0], 3, "decimals over rtu")
        check(abs(regs[1] - 350) <= 4, "pressure over rtu: %d" % regs[1])
        # another unit on the line: silence
        frame = bytes([200]) + pdu_read(3, 0, 1)
        c = crc16(frame)
        r.send(frame + bytes([c & 0xFF, c >> 8]))
        eq(r.recv(0.4), b"", "reply for a unit that is not configured")
        # corrupt CRC: silence, and the line recovers
        frame = bytes([unit]) + pdu_read(3, 3, 1)
        r.send(frame + b"\x00\x00")
        eq(r.recv(0.4), b"", "reply to a frame with a bad CRC")
        expect_exc(2, r.call, unit, pdu_read(3, 5, 1))
        r.call(U["b3-stairs"], struct.pack(">BHH", 5, 7, 0xFF00))
        eq(r.call(U["b3-stairs"], pdu_read(1, 0, 8)), [0] * 7 + [1], "coil over rtu")
        eq(control(p, {"offline": "b3-pressure"}), "ok", "offline over rtu")
        frame = bytes([unit]) + pdu_read(3, 3, 1)
        c = crc16(frame)
        r.send(frame + bytes([c & 0xFF, c >> 8]))
        eq(r.recv(0.4), b"", "offline unit on rtu")
    finally:
        r.close()
    s = wait_for(lambda: stats(p) if (stats(p) or {}).get("bad_frames") == 1 else None, 3,
                 "bad frame counted")
    eq(s["unknown_unit"], 1, "unknown unit counted")
    eq(s["devices"]["b3-pressure"]["requests"], 3, "b3-pressure requests over rtu")
    stop_sim(p)


if __name__ == "__main__":
    run([test_tcp_values, test_tcp_exceptions, test_tcp_writes, test_control, test_offline,
         test_stats, test_scenario, test_usage_and_bad_scenario, test_rtu])
