"""yardwatch-sim's fault steps on the wire (docs/simulator.md, "Faults"),
checked with the hand-rolled Modbus TCP and RTU clients of test_sim: each
kind's exact bytes over TCP and RTU, for_s expiry, and bad fault steps."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from yw import ours, SIM, PROFILES, check, eq, run, wait_for, with_env  # noqa: E402
from test_sim import DEMO, RtuClient, SOCAT, TcpClient, U, control, crc16, mbap, other_unit, pdu_read, rtu_adu, start_sim, stats, stop_sim  # noqa: E402

DEC_REQ = pdu_read(3, 3, 1)            # b3-pressure's decimals register: always 3
DEC_RSP = bytes([3, 2, 0, 3])


def fault(p, device, kind, **kw):
    step = {"fault": dict({"device": device, "kind": kind}, **kw)}
    eq(control(p, step), "ok", "reply to %r" % step)


@with_env("sim-fault-tcp")
def test_faults_tcp(env):
    p = start_sim(env)
    unit = U["b3-pressure"]
    good = TcpClient(p.port)
    eq(good.pdu(unit, DEC_REQ), DEC_RSP, "answer before any fault")

    def one(kind, wait=1.0, **kw):
        fault(p, "b3-pressure", kind, **kw)
        c = TcpClient(p.port)
        tid, got = c.raw(unit, DEC_REQ, wait)
        return c, tid, got

    # garbage: as many bytes as the answer, random, protocol id never 0
    c, tid, got = one("garbage")
    eq(len(got), 11, "garbage length (that of the answer)")
    check(got != mbap(tid, unit, DEC_RSP), "garbage is not the answer")
    check(got[2:4] != b"\0\0", "garbage protocol id is not 0: %r" % got)
    c.close()
    # truncate: the first half of the answer
    c, tid, got = one("truncate")
    eq(got, mbap(tid, unit, DEC_RSP)[:5], "truncated answer")
    c.close()
    # bad_crc has no CRC to break on TCP: garbage
    c, tid, got = one("bad_crc")
    eq(len(got), 11, "bad_crc on tcp: garbage length")
    check(got[2:4] != b"\0\0", "bad_crc on tcp: protocol id is not 0: %r" % got)
    c.close()
    # wrong_unit: the MBAP unit id of the next unit
    c, tid, got = one("wrong_unit")
    eq(got, mbap(tid, other_unit(unit), DEC_RSP), "wrong_unit answer")
    c.close()
    # wrong_tid: transaction id + 1
    c, tid, got = one("wrong_tid")
    eq(got, mbap((tid + 1) & 0xFFFF, unit, DEC_RSP), "wrong_tid answer")
    c.close()
    # silent: no answer, the connection stays open and serves the others
    c, tid, got = one("silent", wait=0.6)
    eq(got, b"", "silent: no answer")
    eq(c.pdu(U["b3-meter"], pdu_read(3, 0x2000, 2))[0], 3, "same connection, other unit")
    c.close()
    # late: the answer comes delay_ms later; nothing waits behind it
    fault(p, "b3-pressure", "late", delay_ms=700)
    c = TcpClient(p.port)
    t0 = time.monotonic()
    tid = c.send(unit, DEC_REQ)
    other = TcpClient(p.port)
    eq(other.pdu(U["b3-meter"], pdu_read(3, 0x2000, 2))[0], 3, "another client meanwhile")
    tid2 = c.send(U["b2-pressure"], DEC_REQ)
    eq(c.collect(0.5, quiet=0.1), mbap(tid2, U["b2-pressure"], DEC_RSP),
       "the next request on the same connection overtakes the late answer")
    check(time.monotonic() - t0 < 0.6, "other answers were held back")
    eq(c.collect(2.0), mbap(tid, unit, DEC_RSP), "the late answer")
    dt = time.monotonic() - t0
    check(0.65 <= dt < 1.5, "late answer after %.2fs, want ~0.7s" % dt)
    other.close()
    c.close()
    # clearing: kind "none", and kind null
    fault(p, "b3-pressure", "none")
    eq(good.pdu(unit, DEC_REQ), DEC_RSP, "after kind none")
    fault(p, "b3-pressure", "silent")
    fault(p, "b3-pressure", None)
    eq(good.pdu(unit, DEC_REQ), DEC_RSP, "after kind null")
    # the other devices were never touched
    wait_for(lambda: (stats(p) or {}).get("devices", {}).get("b3-pressure", {})
             .get("faulted") == 7, 3, "7 faulted answers counted")
    eq(stats(p)["devices"]["b3-meter"]["faulted"], 0, "b3-meter not faulted")
    # exceptions 10 and 11: a TCP gateway whose device is unreachable
    for code in (10, 11):
        eq(control(p, {"exception": {"device": "b3-pressure", "code": code}}), "ok", "exc")
        eq(good.pdu(unit, DEC_REQ), bytes([0x83, code]), "exception %d on the wire" % code)
    eq(control(p, {"exception": {"device": "b3-pressure", "code": 0}}), "ok", "clear")
    # a bad fault step on control
    r = control(p, {"fault": {"device": "b3-pressure", "kind": "late"}})
    check(r.startswith("error: fault") and "delay_ms" in r, "late without delay_ms: %r" % r)
    r = control(p, {"fault": {"device": "b3-pressure", "kind": "bogus"}})
    check(r.startswith("error: fault.kind: must be one of"), "unknown kind: %r" % r)
    good.close()
    check("fault b3-pressure late delay 700 ms" in env.log("sim"), "fault step logged")
    stop_sim(p)


@with_env("sim-fault-for")
def test_fault_for_s(env):
    sc = os.path.join(env.dir, "scenario.json")
    with open(sc, "w") as f:
        json.dump([{"at_s": 0, "fault": {"device": "b3-pressure", "kind": "silent",
                                          "for_s": 1.5}},
                   {"at_s": 0, "fault": {"device": "b2-pressure", "kind": "wrong_tid"}}], f)
    p = start_sim(env, "--scenario", sc, control=False)
    c = TcpClient(p.port, timeout=0.4)
    t0 = time.monotonic()
    tid, got = c.raw(U["b3-pressure"], DEC_REQ, 0.4)
    eq(got, b"", "silent while for_s runs")

    def answered():
        tid, got = c.raw(U["b3-pressure"], DEC_REQ, 0.3)
        return got == mbap(tid, U["b3-pressure"], DEC_RSP)
    wait_for(answered, 4, "answers again after for_s")
    dt = time.monotonic() - t0
    check(1.2 <= dt < 3.0, "fault ended after %.2fs, want ~1.5s" % dt)
    check("fault b3-pressure silent ended" in env.log("sim"), "end of the fault logged")
    # a fault without for_s stays
    tid, got = c.raw(U["b2-pressure"], DEC_REQ)
    eq(got, mbap((tid + 1) & 0xFFFF, U["b2-pressure"], DEC_RSP), "wrong_tid for ever")
    c.close()
    stop_sim(p)


@with_env("sim-fault-bad")
def test_bad_fault_steps(env):
    sc = os.path.join(env.dir, "bad.json")
    with open(sc, "w") as f:
        json.dump([{"at_s": 1, "fault": {"device": "b1-meter", "kind": "garbage", "for_s": 2}},
                   {"at_s": 1, "fault": {"device": "b1-meter", "kind": "late"}},
                   {"at_s": 1, "fault": {"device": "b1-meter", "kind": "silent",
                                         "delay_ms": 5}},
                   {"at_s": 1, "fault": {"device": "b1-meter", "kind": "garbage",
                                         "for_s": -1}},
                   {"at_s": 1, "fault": {"device": "nosuch", "kind": "garbage"}},
                   {"at_s": 1, "fault": {"device": "b1-meter", "kind": "noise"}},
                   {"at_s": 1, "fault": {"device": "b1-meter", "kind": "late",
                                         "delay_ms": 0}},
                   {"at_s": 1, "fault": {"device": "b1-meter"}},
                   {"at_s": 1, "fault": {"device": "b1-meter", "kind": "garbage",
                                         "when": 3}},
                   {"at_s": 1, "fault": "b1-meter"}], f)
    r = subprocess.run(ours([SIM, "-c", DEMO, "--profiles", PROFILES, "--tcp", "127.0.0.1:0",
                             "--scenario", sc]), capture_output=True, timeout=10)
    eq(r.returncode, 65, "bad fault steps exit status")
    err = r.stderr.decode()
    for want in ['[1].fault: kind "late" needs "delay_ms"',
                 '[2].fault: "delay_ms" goes only with kind "late"',
                 "[3].fault.for_s: must be a number of seconds > 0",
                 '[4].fault.device: unknown device "nosuch"',
                 "[5].fault.kind: must be one of",
                 "[6].fault.delay_ms: must be an integer in 1..",
                 '[7].fault: needs "device" and "kind"',
                 "[8].fault.when: unknown key",
                 "[9].fault: must be an object"]:
        check(want in err, "scenario error %r in %r" % (want, err))
    check("[0]" not in err, "a good fault step refused: %r" % err)


@with_env("sim-fault-rtu")
def test_faults_rtu(env):
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
    unit = U["b3-pressure"]
    good = rtu_adu(unit, DEC_RSP)

    def ask(u=unit, wait=1.0):
        r.send(rtu_adu(u, DEC_REQ))
        return r.recv(wait)
    try:
        eq(ask(), good, "answer before any fault")
        fault(p, "b3-pressure", "bad_crc")
        got = ask()
        eq(got[:-2], good[:-2], "bad_crc: the answer itself")
        eq(got[-2:], bytes([good[-2] ^ 0xFF, good[-1] ^ 0xFF]), "bad_crc: CRC bytes inverted")
        fault(p, "b3-pressure", "wrong_unit")
        eq(ask(), rtu_adu(other_unit(unit), DEC_RSP), "wrong_unit: well-formed, other unit")
        fault(p, "b3-pressure", "garbage")
        got = ask()
        eq(len(got), len(good), "garbage length")
        check(crc16(got[:-2]) != got[-2] | got[-1] << 8, "garbage CRC must not check")
        fault(p, "b3-pressure", "wrong_tid")
        got = ask()
        eq(len(got), len(good), "wrong_tid on rtu: garbage length")
        check(got != good and crc16(got[:-2]) != got[-2] | got[-1] << 8,
              "wrong_tid on rtu: garbage")
        fault(p, "b3-pressure", "truncate")
        eq(ask(), good[:len(good) // 2], "truncate: first half")
        eq(ask(U["b2-pressure"]), rtu_adu(U["b2-pressure"], DEC_RSP), "line recovers")
        fault(p, "b3-pressure", "silent")
        eq(ask(wait=0.5), b"", "silent")
        # late: another unit answers at once meanwhile
        fault(p, "b3-pressure", "late", delay_ms=600)
        t0 = time.monotonic()
        r.send(rtu_adu(unit, DEC_REQ))
        time.sleep(0.05)
        eq(ask(U["b2-pressure"], wait=0.5), rtu_adu(U["b2-pressure"], DEC_RSP),
           "another unit meanwhile")
        check(time.monotonic() - t0 < 0.55, "the other unit was held back")
        eq(r.recv(2.0), good, "the late answer")
        dt = time.monotonic() - t0
        check(0.55 <= dt < 1.5, "late answer after %.2fs, want ~0.6s" % dt)
        # for_s over rtu
        fault(p, "b3-pressure", "bad_crc", for_s=1)
        check(ask() != good, "bad_crc during for_s")
        time.sleep(1.1)
        eq(ask(), good, "after for_s")
    finally:
        r.close()
    stop_sim(p)



if __name__ == "__main__":
    run([test_faults_tcp, test_fault_for_s, test_bad_fault_steps, test_faults_rtu])
