"""Numbers end to end (SPEC "MQTT": a value is printed with the fewest digits
that identify it at the precision it was read with). The real simulator
serves an int64, a float32, a uint16 scaled by 0.001 and a float64; the real
daemon polls them and publishes on a real broker. The exact text is checked
where people and machines read it: the raw bytes of telemetry and of alarm
events on MQTT, `yardwatch points --json`, `yardwatch alarms --json`,
`yardwatch history --csv` and the `points` table."""
import re
import threading

import yw
from yw import check, eq, wait_for
from mqttutil import P

POINTS = [
    {"name": "count", "table": "holding", "address": 0, "type": "int64"},
    {"name": "volt", "table": "holding", "address": 4, "type": "float32", "unit": "V"},
    {"name": "flow", "table": "holding", "address": 6, "type": "uint16", "scale": 0.001,
     "unit": "m3/h"},
    {"name": "energy", "table": "holding", "address": 7, "type": "float64", "unit": "kWh"},
]

# (what the simulator is told, the text that must come out), per point.
ROUND1 = {"count": (-1234567890123456, "-1234567890123456"),
          "volt": (229.1136, "229.1136"),
          "flow": (0.35, "0.35"),
          "energy": (0.1 + 0.2, "0.30000000000000004")}
ROUND2 = {"count": (5, "5"),
          "volt": (-2.5, "-2.5"),
          "flow": (1.234, "1.234"),
          "energy": (1e21, "1e+21")}


class RawSub:
    """A subscriber that keeps the payloads as the broker delivered them."""

    def __init__(self, port, topic):
        import paho.mqtt.client as mqtt
        self.msgs = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.c = mqtt.Client(client_id="yw-numbers-%d" % port, clean_session=True)
        self.c.on_connect = lambda c, u, f, rc: (c.subscribe(topic, 1), self.ready.set())
        self.c.on_message = self._on_msg
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        check(self.ready.wait(10), "subscriber connected")

    def _on_msg(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, m.payload.decode()))

    def all(self, prefix):
        with self.lock:
            return [p for t, p in self.msgs if t.startswith(prefix)]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def set_values(env, sim, values):
    env.sim_step(sim, {"set": {"m1." + k: v for k, (v, text) in values.items()}})


def telemetry_has(sub, values):
    """The latest telemetry of m1 whose values carry every expected text."""
    for p in reversed(sub.all(P + "/telemetry/m1")):
        if all('"%s":%s,' % (k, text) in p or '"%s":%s}' % (k, text) in p
               for k, (v, text) in values.items()):
            return p
    return None


def json_values(out):
    """POINT -> the raw text of its value in `yardwatch points --json`."""
    return dict(re.findall(r'"id":"m1\.(\w+)"[^}]*?"value":([^,}]+)', out))


def table_values(out):
    """POINT -> the VALUE column of the `points` table."""
    rows = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if cols and cols[0].startswith("m1."):
            rows[cols[0][3:]] = cols[1]
    return rows


def csv_last(env, path, point):
    rc, out, err = env.cli(path, "history", "m1." + point, "--since", "10m", "--csv")
    eq(rc, 0, "history exit code (%s)" % err)
    lines = out.strip().splitlines()
    eq(lines[0], "ts,value,quality", "CSV header")
    return lines[-1].split(",")[1]


def check_cli(env, path, values):
    want = {k: text for k, (v, text) in values.items()}
    got = wait_for(lambda: (lambda r: r if all(r.get(k) == t for k, t in want.items()) else None)(
        json_values(env.cli(path, "points", "--json")[1])), 10, "points --json %r" % want)
    eq(got, want, "points --json values")
    rc, out, err = env.cli(path, "points")
    eq(rc, 0, "points exit code")
    eq(table_values(out), want, "points table values")
    for k, text in want.items():
        eq(csv_last(env, path, k), text, "history --csv of m1.%s" % k)


@yw.with_env("numbers")
def test_values_print_with_the_fewest_digits(env):
    broker = env.broker()
    sim_port = yw.free_port()
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim_port, "timeout_ms": 300}]
    devices = [{"id": "m1", "bus": "lan", "unit": 1, "poll_ms": 300, "points": POINTS}]
    alarms = [
        {"id": "flow-low", "point": "m1.flow", "when": "below", "threshold": 0.4, "delay_s": 0,
         "severity": "minor", "category": "water"},
        {"id": "volt-high", "point": "m1.volt", "when": "above", "threshold": 229.1, "delay_s": 0,
         "severity": "major", "category": "power"},
    ]
    cfg = yw.base_config(env, devices, buses, mqtt_port=broker.port, alarms=alarms)
    path = env.write_config(cfg)
    sim = env.sim(path, port=sim_port)
    set_values(env, sim, ROUND1)
    sub = RawSub(broker.port, P + "/#")
    try:
        env.daemon(path)
        # Telemetry, byte for byte.
        tel = wait_for(lambda: telemetry_has(sub, ROUND1), 15, "telemetry with %r" % ROUND1)
        check('"values":{"count":-1234567890123456,"volt":229.1136,"flow":0.35,'
              '"energy":0.30000000000000004}' in tel, "telemetry values: %s" % tel)

        # Alarm events: the value and the threshold as configured.
        def event(alarm):
            evs = [p for p in sub.all(P + "/alarm/") if '"alarm":"%s"' % alarm in p]
            return evs and evs[0]
        ev = wait_for(lambda: event("flow-low"), 10, "flow-low raised")
        check('"value":0.35,"unit":"m3/h","threshold":0.4,' in ev, "flow-low event: %s" % ev)
        ev = wait_for(lambda: event("volt-high"), 10, "volt-high raised")
        check('"value":229.1136,"unit":"V","threshold":229.1,' in ev, "volt-high event: %s" % ev)
        rc, out, err = env.cli(path, "alarms", "--json")
        check('"value":0.35,' in out and '"value":229.1136,' in out,
              "yardwatch alarms --json keeps the event's numbers: %s" % out)
        wait_for(lambda: any('"value":229.1136,' in a for a in sub.all(P + "/alarms/active")),
                 10, "P/alarms/active with the event's numbers")

        check_cli(env, path, ROUND1)

        # Integral values are integers (5, not 5.0); big ones have no noise.
        set_values(env, sim, ROUND2)
        tel = wait_for(lambda: telemetry_has(sub, ROUND2), 15, "telemetry with %r" % ROUND2)
        check('"count":5,' in tel and "5.0" not in tel, "count is 5: %s" % tel)
        check_cli(env, path, ROUND2)
    finally:
        sub.close()


if __name__ == "__main__":
    yw.run([test_values_print_with_the_fewest_digits])
