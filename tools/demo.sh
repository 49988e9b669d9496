#!/usr/bin/env bash
# The demo compound: installs what is missing, builds, then runs a local
# mosquitto broker, the simulator playing 6 buildings (24 devices) with a
# scenario, and yardwatchd, all on 127.0.0.1. It shows the readings of
# building 3's fire-water pressure as they change, and every alarm and device
# status message as the property-management centre receives it; at the end
# it prints `yardwatch alarms` and `yardwatch report`. Stops by itself after
# the scenario (about 75 s) or on Ctrl-C, leaving nothing running.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

tools/deps.sh || exit 1
mkdir -p build
{ cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; } || {
	echo "demo: build failed (run: cmake --build build)"; exit 1; }

work=$(mktemp -d -t yardwatch-demo.XXXXXX)
pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopped"; exit 130' INT TERM

cp config/demo.json "$work/demo.json"
ln -s "$src/config/profiles" "$work/profiles"
broker_port=18830
cat >"$work/mosquitto.conf" <<CONF
listener $broker_port 127.0.0.1
allow_anonymous true
persistence false
CONF
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & pids+=($!)
build/yardwatch-sim -c "$work/demo.json" --tcp 127.0.0.1:15020 \
	--scenario config/demo-scenario.json >"$work/sim.log" 2>&1 & pids+=($!)
sleep 0.5

P=yardwatch/demo-compound/gw1
echo "== the centre's view (MQTT): alarms, device status, gateway status"
mosquitto_sub -h 127.0.0.1 -p $broker_port -v -t "$P/alarm/#" -t "$P/device/+/status" \
	-t "$P/status" 2>/dev/null | while read -r topic payload; do
	printf '%s  %s\n      %s\n' "$(date +%T)" "${topic#$P/}" "$payload"
done & pids+=($!)
sleep 0.3

build/yardwatchd -c "$work/demo.json" --log-level warn 2>"$work/yardwatchd.log" & pids+=($!)
daemon=$!

y() { build/yardwatch -c "$work/demo.json" "$@"; }
for i in $(seq 1 15); do
	sleep 5
	kill -0 "$daemon" 2>/dev/null || { echo "demo: yardwatchd stopped:"; cat "$work/yardwatchd.log"; exit 1; }
	line=$(y points b3-pressure --json 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["point"] == "pressure":
        print("%s = %s %s (%s)" % (p["id"], p["value"], p["unit"] or "", p["quality"]))' 2>/dev/null)
	echo "$(date +%T)  reading: ${line:-no reading yet}"
done

echo
echo "== yardwatch status"; y status
echo; echo "== yardwatch alarms"; y alarms
echo; echo "== yardwatch report --since 10m"; y report --since 10m
echo; echo "demo: done"
