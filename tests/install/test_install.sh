#!/bin/bash
# Install test: `cmake --install` into a DESTDIR and check the layout; check
# the unit with systemd-analyze verify, the sysusers.d and tmpfiles.d files
# with systemd-sysusers / systemd-tmpfiles in a scratch root (as root only);
# build the .deb with cpack and check dpkg-deb --info / --contents; verify the
# unit shipped in the .deb too.
#
#   tests/install/test_install.sh [BUILD_DIR]     (default: build)
#
# Needs: cmake (cpack), dpkg-deb, dpkg-shlibdeps (dpkg-dev), systemd-analyze,
# systemd-sysusers, systemd-tmpfiles (systemd), man (man-db). The build dir
# must be built. Prints "N passed, N failed"; exits 1 when a check failed.
set -euo pipefail

build=${1:-build}
if [[ ! -f $build/CMakeCache.txt ]]; then
	echo "test_install: $build is not a configured build directory" >&2
	exit 2
fi
build=$(cd "$build" && pwd)
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/yw-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND... (a command or a function below)
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}
absent() { # PATH...: none exists
	local f
	for f in "$@"; do [[ ! -e $f ]] || return 1; done
}
has_prefix() { [[ $1 == "$2"* ]]; }
no_line() { ! grep -Eq -- "$1" "$2"; }
runnable_script() { test -x "$1" && sh -n "$1"; }

programs=(yardwatchd yardwatch yardwatch-sim)
manpages=(man8/yardwatchd.8 man1/yardwatch.1 man1/yardwatch-sim.1 man5/yardwatch.json.5)

# The unit sits in pkg-config systemd's systemdsystemunitdir for prefix /usr
# (/lib/systemd/system on Debian 12) or in /usr/lib/systemd/system.
find_unit() { # ROOT -> relative path of the unit, or nothing
	local d
	for d in lib/systemd/system usr/lib/systemd/system; do
		if [[ -f $1/$d/yardwatchd.service ]]; then
			echo "$d/yardwatchd.service"
			return
		fi
	done
}

# systemd-analyze verify on the unit in ROOT: a copy of ROOT with the host's
# own units (targets, slices) and /bin/kill; the man pages named by
# Documentation= are looked up in ROOT. Passes only with no output at all
# (an unknown directive is a warning with exit status 0).
verify_unit() { # ROOT LABEL
	local root=$1 label=$2 v=$tmp/verify-$2 out
	rm -rf "$v"
	cp -a "$root" "$v"
	mkdir -p "$v/usr/lib/systemd/system" "$v/usr/bin"
	cp -r /usr/lib/systemd/system/. "$v/usr/lib/systemd/system/"
	[[ -e $v/usr/bin/kill ]] || cp /usr/bin/kill "$v/usr/bin/kill"
	[[ -e $v/bin ]] || ln -s usr/bin "$v/bin"
	local man=yes
	command -v man >/dev/null || man=no # Documentation=man:... needs man-db
	if out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$v" --man=$man \
		yardwatchd.service 2>&1) && [[ -z $out ]]; then
		ok "$label: systemd-analyze verify yardwatchd.service"
	else
		fail "$label: systemd-analyze verify yardwatchd.service: $out"
	fi
}

# ---------------------------------------------------------------- install
root=$tmp/root
if DESTDIR=$root cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1; then
	ok "cmake --install --prefix /usr into DESTDIR"
else
	fail "cmake --install: $(tail -5 "$tmp/install.log")"
fi

for p in "${programs[@]}"; do
	check "usr/bin/$p is executable" test -x "$root/usr/bin/$p"
done
nprof=$(find "$root/usr/share/yardwatch/profiles" -name '*.json' 2>/dev/null | wc -l)
if ((nprof >= 5)); then ok "$nprof profiles in usr/share/yardwatch/profiles"; else
	fail "usr/share/yardwatch/profiles holds $nprof profiles (want 5+)"; fi
check "etc/yardwatch/yardwatch.json is the example config" \
	cmp "$src/config/yardwatch.json" "$root/etc/yardwatch/yardwatch.json"
unit=$(find_unit "$root")
if [[ -n $unit ]]; then ok "unit installed as $unit"; else fail "yardwatchd.service not installed"; fi
check "usr/lib/sysusers.d/yardwatch.conf" cmp "$src/systemd/yardwatch.sysusers" \
	"$root/usr/lib/sysusers.d/yardwatch.conf"
check "usr/lib/tmpfiles.d/yardwatch.conf" cmp "$src/systemd/yardwatch.tmpfiles" \
	"$root/usr/lib/tmpfiles.d/yardwatch.conf"
for m in "${manpages[@]}"; do
	check "usr/share/man/$m" test -s "$root/usr/share/man/$m"
done
check "usr/share/doc/yardwatch/install.md" test -s "$root/usr/share/doc/yardwatch/install.md"
check "usr/share/doc/yardwatch/status-page.md" test -s "$root/usr/share/doc/yardwatch/status-page.md"
check "nothing under usr/etc or usr/local" \
	absent "$root/usr/etc" "$root/usr/local"

if [[ -n $unit ]]; then
	check "ExecStart runs /usr/bin/yardwatchd -c /etc/yardwatch/yardwatch.json" \
		grep -qx 'ExecStart=/usr/bin/yardwatchd -c /etc/yardwatch/yardwatch.json' "$root/$unit"
	verify_unit "$root" install
fi

# sysusers.d and tmpfiles.d applied to a scratch root (they chown: root only)
if [[ $(id -u) -eq 0 ]] && command -v systemd-sysusers >/dev/null &&
	command -v systemd-tmpfiles >/dev/null; then
	s=$tmp/sysroot
	mkdir -p "$s/etc" "$s/usr/lib"
	cp -r "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$s/usr/lib/"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$s/etc/passwd"
	printf 'root:x:0:\ndialout:x:20:\n' >"$s/etc/group"
	if systemd-sysusers --root="$s" yardwatch.conf >/dev/null 2>&1 &&
		systemd-tmpfiles --root="$s" --create yardwatch.conf >/dev/null 2>&1; then
		ok "systemd-sysusers and systemd-tmpfiles --create apply"
	else
		fail "systemd-sysusers / systemd-tmpfiles failed on the installed files"
	fi
	uid=$(awk -F: '$1 == "yardwatch" { print $3 }' "$s/etc/passwd")
	check "sysusers: user yardwatch with shell nologin" \
		grep -q '^yardwatch:x:[0-9]*:[0-9]*:[^:]*:/var/lib/yardwatch:/usr/sbin/nologin$' "$s/etc/passwd"
	check "sysusers: yardwatch is in group dialout" grep -qE '^dialout:x:20:(.*,)?yardwatch(,|$)' "$s/etc/group"
	check "tmpfiles: /var/lib/yardwatch is 0750 yardwatch:yardwatch" \
		test "$(stat -c '%a %u' "$s/var/lib/yardwatch" 2>/dev/null)" = "750 ${uid:-none}"
else
	echo "skip: systemd-sysusers / systemd-tmpfiles (needs root and systemd)"
fi

# ---------------------------------------------------------------- .deb
pkg=$tmp/pkg
if (cd "$build" && cpack -G DEB -B "$pkg") >"$tmp/cpack.log" 2>&1; then
	ok "cpack -G DEB"
else
	fail "cpack -G DEB: $(tail -5 "$tmp/cpack.log")"
fi
deb=$(find "$pkg" -maxdepth 1 -name 'yardwatch_*.deb' | head -1)
if [[ -n $deb ]]; then
	ok "package $(basename "$deb")"
	version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
	arch=$(sed -n 's/^set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
	[[ -n $arch ]] || arch=$(dpkg --print-architecture)
	field() { dpkg-deb --field "$deb" "$1"; }
	check "Package: yardwatch" test "$(field Package)" = yardwatch
	check "Version: $version-*" has_prefix "$(field Version)" "$version-"
	check "Architecture: $arch" test "$(field Architecture)" = "$arch"
	check "Section: net" test "$(field Section)" = net
	check "Maintainer set" test -n "$(field Maintainer)"
	depends=$(field Depends)
	for lib in libmodbus5 libmosquitto1 libsqlite3-0 libjansson4 libmicrohttpd12 libc6; do
		check "Depends: $lib" grep -qw -- "$lib" <<<"$depends"
	done
	ctl=$tmp/control
	dpkg-deb --control "$deb" "$ctl"
	check "conffiles: /etc/yardwatch/yardwatch.json" \
		grep -qx /etc/yardwatch/yardwatch.json "$ctl/conffiles"
	for s in postinst prerm postrm; do
		check "maintainer script $s: executable, sh -n" runnable_script "$ctl/$s"
	done
	check "postinst neither enables nor starts the service" no_line \
		'(systemctl|deb-systemd-invoke|deb-systemd-helper)[^#]* (enable|start|reenable|restart) ' \
		"$ctl/postinst"

	contents=$tmp/contents
	dpkg-deb --contents "$deb" | awk '{ print $NF }' | sed 's#^\./#/#' >"$contents"
	want=(/usr/bin/yardwatchd /usr/bin/yardwatch /usr/bin/yardwatch-sim
		/etc/yardwatch/yardwatch.json /usr/lib/sysusers.d/yardwatch.conf
		/usr/lib/tmpfiles.d/yardwatch.conf /usr/share/doc/yardwatch/install.md)
	for m in "${manpages[@]}"; do want+=("/usr/share/man/$m"); done
	for f in "${want[@]}"; do
		check "contents: $f" grep -qx -- "$f" "$contents"
	done
	check "contents: the unit" grep -qE '^(/usr)?/lib/systemd/system/yardwatchd.service$' "$contents"
	n=$(grep -c '^/usr/share/yardwatch/profiles/.*\.json$' "$contents" || true)
	if ((n >= 5)); then ok "contents: $n profiles"; else fail "contents: $n profiles (want 5+)"; fi
	check "contents: nothing under /usr/local or /usr/etc" no_line '^/usr/(local|etc)(/|$)' "$contents"

	x=$tmp/deb
	dpkg-deb -x "$deb" "$x"
	xunit=$(find_unit "$x")
	check "the .deb's unit starts the .deb's /usr/bin/yardwatchd" \
		grep -q '^ExecStart=/usr/bin/yardwatchd ' "$x/${xunit:-none}"
	check "the .deb holds an executable /usr/bin/yardwatchd" test -x "$x/usr/bin/yardwatchd"
	verify_unit "$x" deb
else
	fail "no yardwatch_*.deb in $pkg"
fi

echo "$passed passed, $failed failed"
((failed == 0))
