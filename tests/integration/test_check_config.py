"""yardwatchd --check-config and the exit codes of bad usage and bad config."""
import json
import os
import subprocess

import yw
from yw import check, eq


def run(*argv):
    r = subprocess.run(yw.ours([yw.DAEMON] + list(argv)), capture_output=True, timeout=20)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


@yw.with_env("check")
def test_demo_config_checks(env):
    rc, out, err = run("-c", os.path.join(yw.SRC, "config", "demo.json"), "--check-config")
    eq(rc, 0, "exit code (stderr: %s)" % err)
    check(out.startswith("ok: 1 buses, 24 devices, "), "check output: %r" % out)
    check(out.rstrip().endswith(" alarms"), "check output: %r" % out)


@yw.with_env("check-bad")
def test_bad_config_exit_78_all_errors(env):
    cfg = yw.base_config(env, [
        {"id": "p1", "bus": "nope", "unit": 1, "profile": "pressure-transmitter", "poll_ms": 10},
    ], [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": 502, "baud": 9600}])
    path = env.write_config(cfg, "site.json")
    rc, out, err = run("-c", path, "--check-config")
    eq(rc, 78, "exit code")
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) >= 3, "every error reported, got %r" % lines)
    check(all(l.startswith(path + ": ") for l in lines), "each line names the file: %r" % lines)
    check(any("devices[0].poll_ms" in l for l in lines), "poll_ms error: %r" % lines)
    check(any("devices[0].bus" in l for l in lines), "dangling bus: %r" % lines)
    check(any("buses[0].baud" in l for l in lines), "rtu option on tcp: %r" % lines)


@yw.with_env("check-rtutcp")
def test_rtu_tcp_bus_checks(env):
    devices = [{"id": "p%d" % u, "bus": "yard", "unit": u, "profile": "pressure-transmitter"}
               for u in (1, 2)]
    buses = [{"id": "yard", "type": "rtu-tcp", "host": "127.0.0.1", "port": 4196,
              "timeout_ms": 500, "inter_frame_delay_ms": 20},
             {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": 502}]
    devices.append({"id": "r1", "bus": "lan", "unit": 1, "profile": "relay-8ch"})
    path = env.write_config(yw.base_config(env, devices, buses), "site.json")
    rc, out, err = run("-c", path, "--check-config")
    eq(rc, 0, "exit code (stderr: %s)" % err)
    check(out.startswith("ok: 2 buses, 3 devices, "), "check output: %r" % out)

    buses[0].update({"baud": 9600, "parity": "E"})
    del buses[0]["host"]
    devices[1]["unit"] = 248
    path = env.write_config(yw.base_config(env, devices, buses), "site.json")
    rc, out, err = run("-c", path, "--check-config")
    eq(rc, 78, "exit code")
    eq(err.splitlines(), [path + ": buses[0].baud: not allowed on an rtu-tcp bus",
                          path + ": buses[0].parity: not allowed on an rtu-tcp bus",
                          path + ": buses[0].host: is required for an rtu-tcp bus",
                          path + ": devices[1].unit: must be an integer in 1..247"],
       "errors of an rtu-tcp bus")


@yw.with_env("check-syntax")
def test_syntax_error_line_column(env):
    path = os.path.join(env.dir, "broken.json")
    with open(path, "w") as f:
        f.write('{\n  "site": {"id": "x",\n}\n')
    rc, out, err = run("-c", path, "--check-config")
    eq(rc, 78, "exit code")
    check(err.startswith(path + ":3:"), "syntax error has FILE:LINE:COLUMN: %r" % err)


def test_usage_errors():
    eq(run("--bogus")[0], 64, "unknown option")
    eq(run("--log-level", "loud")[0], 64, "bad log level")
    rc, out, err = run("--version")
    eq(rc, 0, "--version")
    check(out.startswith("yardwatchd "), "version line %r" % out)


@yw.with_env("check-store")
def test_unopenable_store_exit_1(env):
    cfg = yw.base_config(env, [
        {"id": "p1", "bus": "lan", "unit": 1, "profile": "pressure-transmitter"},
    ], [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": yw.free_port()}])
    blocker = os.path.join(env.dir, "a-file")
    open(blocker, "w").close()
    cfg["storage"]["path"] = os.path.join(blocker, "yw.db")
    path = env.write_config(cfg)
    r = subprocess.run(yw.ours([yw.DAEMON, "-c", path]), capture_output=True, timeout=20)
    eq(r.returncode, 1, "exit code when the store cannot be opened")


if __name__ == "__main__":
    yw.run([test_demo_config_checks, test_bad_config_exit_78_all_errors,
            test_rtu_tcp_bus_checks, test_syntax_error_line_column, test_usage_errors,
            test_unopenable_store_exit_1])
