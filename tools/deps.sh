#!/usr/bin/env bash
# Installs what yardwatch needs to build, test and run its demo on Debian 12 /
# Ubuntu 22.04+ (only the packages that are missing; apt-get update first).
set -euo pipefail

pkgs=(gcc make cmake pkg-config
      libmodbus-dev libmosquitto-dev libsqlite3-dev libjansson-dev libsystemd-dev
      libmicrohttpd-dev
      mosquitto mosquitto-clients socat openssl sqlite3 procps
      python3 python3-paho-mqtt valgrind clang libclang-rt-dev
      dpkg-dev systemd man-db file
      chromium fonts-dejavu-core)   # the status page's browser test
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
