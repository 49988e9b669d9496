#!/usr/bin/env bash
# Cross-builds yardwatch for ARM with Debian's cross compilers and multiarch
# libraries, and tests the ARM build under qemu-user (see docs/cross.md).
#   tools/cross.sh arm64 [--test]   build-arm64 with cmake/toolchain-cross.cmake;
#                                   --test: unit and integration tests under qemu-aarch64
#   tools/cross.sh armhf [--test]   build-armhf with cmake/toolchain-cross.cmake;
#                                   --test: unit tests under qemu-arm
# Installs what is missing first (cross compiler, qemu-user, the :ARCH -dev
# libraries; never removes a package). Prints the ctest summary; exits non-zero
# on any failure. YW_SLOW (default 3) multiplies the integration tests' waits.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

usage() { echo "usage: tools/cross.sh arm64|armhf [--test]" >&2; exit 2; }
arch=${1:-}
case $arch in
arm64) triplet=aarch64-linux-gnu;   qemu=qemu-aarch64 ;;
armhf) triplet=arm-linux-gnueabihf; qemu=qemu-arm ;;
*) usage ;;
esac
test=0
case ${2:-} in
"") ;;
--test) test=1 ;;
*) usage ;;
esac
build=$src/build-$arch
jobs=$(nproc 2>/dev/null || echo 2)
start=$SECONDS

# -- install --------------------------------------------------------------
# The native tools and test programs (cmake, mosquitto, socat, python3, ...).
tools/deps.sh || { echo "cross: installing native dependencies failed"; exit 1; }

pkgs=("gcc-$triplet" qemu-user
      "libmodbus-dev:$arch" "libmosquitto-dev:$arch" "libsqlite3-dev:$arch"
      "libjansson-dev:$arch" "libsystemd-dev:$arch" "libmicrohttpd-dev:$arch")
missing=()
for p in "${pkgs[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "cross: installing ${missing[*]}"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	added=0
	if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		$SUDO dpkg --add-architecture "$arch" || { echo "cross: dpkg --add-architecture $arch failed"; exit 1; }
		added=1
	fi
	# --no-remove: the :ARCH -dev packages must install beside the native ones
	# (Multi-Arch: same, same versions); abort rather than replace them.
	# A mirror caught mid-sync fails an index download now and then: try again;
	# if it still fails, the install below says what is missing.
	for try in 1 2 3; do
		$SUDO apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update -qq && break
		echo "cross: apt-get update failed (try $try)"
		sleep $((try * 5))
	done
	$SUDO apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 install -y -qq \
		--no-install-recommends --no-remove "${missing[@]}" >/dev/null || {
		echo "cross: installing ${missing[*]} failed"
		# An architecture whose index cannot be fetched makes every later
		# apt-get update fail (tools/deps.sh too): take it away again.
		[ $added -eq 1 ] && $SUDO dpkg --remove-architecture "$arch" &&
			$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
		exit 1
	}
fi
t_install=$((SECONDS - start))

# -- build ----------------------------------------------------------------
# ctest runs each cross-built test program through the emulator. Test programs
# that start our other programs (test_store runs yardwatch, test_bus runs
# yardwatch-sim) find them in $YW_BIN; the kernel cannot run an ARM binary
# without binfmt_misc (not available in containers), so the emulator points
# YW_BIN at scripts that start the real programs under qemu.
# qemu runs without -L: the loader and libc are libc6:$arch's (multiarch), see
# the toolchain file.
mkdir -p "$build/qemu"
for prog in yardwatchd yardwatch yardwatch-sim; do
	printf '#!/bin/sh\n# %s under qemu-user (made by tools/cross.sh)\nexec %s '\''%s'\'' "$@"\n' \
		"$prog" "$qemu" "$build/$prog" >"$build/qemu/$prog"
	chmod +x "$build/qemu/$prog"
done
emulator="env;YW_BIN=$build/qemu;$qemu"

echo "== cross $arch: build in $build"
cmake -S "$src" -B "$build" -DYW_ARCH="$arch" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/toolchain-cross.cmake" -DYW_WERROR=ON \
	-DCMAKE_CROSSCOMPILING_EMULATOR="$emulator" >"$build/cross.cmake.log" 2>&1 &&
cmake --build "$build" -j"$jobs" >"$build/cross.build.log" 2>&1 || {
	echo "cross: build in $build failed:"; tail -n 40 "$build/cross.cmake.log" "$build/cross.build.log"; exit 1; }
file -b "$build/yardwatchd" 2>/dev/null | cut -d, -f1-2
t_build=$((SECONDS - start - t_install))

if [ $test -eq 0 ]; then
	echo "cross $arch: built in ${t_build}s (install ${t_install}s)"
	exit 0
fi

# -- test -----------------------------------------------------------------
# Integration tests run natively in python and start mosquitto, socat and
# openssl natively; our programs run under qemu through YW_WRAP, with every
# wait stretched by YW_SLOW.
if [ "$arch" = arm64 ]; then
	# The unit tests and the integration tests of the main paths (poll over
	# TCP and RTU, alarms over MQTT, the command line, numbers, the config
	# check, the simulator). The long fault, kill and soak-like tests run in
	# the native and sanitizer builds, and so do the store's packing tests
	# (millions of readings: minutes under emulation); YW_CROSS_ALL=1 runs
	# everything here too.
	if [ "${YW_CROSS_ALL:-0}" = 1 ]; then
		select=()
	else
		select=(-R '^(unit_|it_test_(poll_tcp|poll_rtu|alarms_mqtt|commands|numbers|check_config|sim)$)'
			-E '^unit_store_(retention|budget)$')
	fi
else
	select=(-R '^unit_')   # armhf: the unit tests only; CI tests the ARM build on arm64
fi
echo "== cross $arch: ctest under $qemu"
out=$(mktemp)
(cd "$build" && YW_WRAP="$qemu" YW_SLOW=${YW_SLOW:-3} \
	ctest --output-on-failure -j"$jobs" --timeout 300 "${select[@]}") 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
grep -qE '[0-9]+% tests passed' "$out" || { echo "cross: ctest did not finish"; rc=1; }
rm -f "$out"
t_test=$((SECONDS - start - t_install - t_build))
echo "cross $arch: install ${t_install}s, build ${t_build}s, test ${t_test}s"
exit "$rc"
