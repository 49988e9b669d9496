#!/usr/bin/env bash
# Installs what is missing, builds yardwatch (warnings as errors) and runs
# every test: unit tests, and integration tests that start the real daemon,
# the simulator and a mosquitto broker on 127.0.0.1. Then the same suite in
# an AddressSanitizer + UndefinedBehaviorSanitizer build (but the kill loop:
# a SIGKILLed process reports nothing; and the browser test: the daemon it
# drives is the sanitizers' in test_http already), the arm64 cross build's unit tests and
# main-path integration tests under qemu-user (tools/cross.sh), each fuzz
# target for a bounded time (clang, libFuzzer), and the unit tests under
# valgrind (but the few that are 50x slower there). Exits non-zero on any
# failure; the last line is "N passed, N failed".
#   tools/test.sh            everything
#   tools/test.sh --quick    the normal build only
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

tools/deps.sh || { echo "test: installing dependencies failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
failed=0
passed=0

build() { # dir, extra cmake args...
	local dir=$1; shift
	mkdir -p "$dir"
	cmake -S "$src" -B "$dir" -DYW_WERROR=ON "$@" >"$dir/cmake.log" 2>&1 &&
	cmake --build "$dir" -j"$jobs" >"$dir/build.log" 2>&1 || {
		echo "test: build in $dir failed:"; tail -n 40 "$dir/cmake.log" "$dir/build.log"; return 1; }
}

suite() { # name, dir, extra ctest args...
	local name=$1 dir=$2 out
	shift 2
	echo "== $name: ctest"
	out=$(mktemp)
	(cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 300 "$@") 2>&1 | tee "$out"
	local p f
	p=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$out" | tail -1)
	if [ -z "$p" ]; then
		echo "test: $name: ctest did not finish"; failed=$((failed + 1))
	else
		f=$(echo "$p" | awk '{print $4}')
		t=$(echo "$p" | awk '{print $NF}')
		failed=$((failed + f)); passed=$((passed + t - f))
	fi
	rm -f "$out"
}

mkdir -p build
build build || exit 1
suite "build" build

if [ $quick -eq 0 ]; then
	mkdir -p build-asan
	build build-asan -DYW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug || exit 1
	# Under the sanitizers: every unit test and every integration test but
	# the kill loop (a SIGKILLed process reports nothing), the browser (it
	# only looks at pages the other tests check) and the three longest timing
	# tests (reconnect backoff, fault steps, a filling store: minutes of
	# waiting, their code paths run in the shorter tests too).
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		suite "asan+ubsan" build-asan \
		-E '^(it_test_killloop|it_test_http_browser|it_test_mqtt_link|it_test_faults|it_test_bounded)$'

	echo "== arm64: cross-built, unit and integration tests under qemu-user"
	if tools/cross.sh arm64 --test; then
		passed=$((passed + 1))
	else
		echo "test: arm64 build or tests FAILED"; failed=$((failed + 1))
	fi

	echo "== fuzz: each parser of outside input, ${YW_FUZZ_SECONDS:-10} s each (libFuzzer)"
	# The targets are those of tests/CMakeLists.txt's YW_FUZZ block (fuzz_all
	# builds them; tests/fuzz_targets.txt lists "TARGET NAME" lines). Each runs
	# on a fresh copy of its seed corpus (tests/fuzz/corpus/NAME) under
	# build-fuzz, with tests/fuzz/NAME.dict when there is one; crash files go
	# to build-fuzz too, never into the tree (docs/fuzzing.md).
	mkdir -p build-fuzz
	if CC=clang cmake -S "$src" -B build-fuzz -DYW_WERROR=ON -DYW_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
		>build-fuzz/cmake.log 2>&1 &&
	   cmake --build build-fuzz -j"$jobs" --target fuzz_all >build-fuzz/build.log 2>&1; then
		while read -r f n; do
			[ -n "$f" ] || continue
			if [ ! -x "build-fuzz/tests/$f" ]; then
				echo "fuzz $f: not built"; failed=$((failed + 1)); continue
			fi
			corpus="build-fuzz/corpus-$n"
			rm -rf "$corpus" && mkdir -p "$corpus" "build-fuzz/artifacts-$n"
			[ -d "tests/fuzz/corpus/$n" ] && cp "tests/fuzz/corpus/$n"/* "$corpus"/
			dict=()
			[ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
			if "build-fuzz/tests/$f" -max_total_time="${YW_FUZZ_SECONDS:-10}" -seed=1 \
				-timeout=10 -print_final_stats=1 "${dict[@]}" \
				-artifact_prefix="build-fuzz/artifacts-$n/" "$corpus" \
				</dev/null >"build-fuzz/$f.log" 2>&1; then
				echo "fuzz $f: clean ($(grep -o 'stat::number_of_executed_units: *[0-9]*' \
					"build-fuzz/$f.log" | grep -o '[0-9]*$') runs, $(grep -oE 'cov: [0-9]+' \
					"build-fuzz/$f.log" | tail -1))"
				passed=$((passed + 1))
			else
				echo "fuzz $f: FAILED (build-fuzz/$f.log, build-fuzz/artifacts-$n/)"
				tail -n 40 "build-fuzz/$f.log"; failed=$((failed + 1))
			fi
		done <build-fuzz/tests/fuzz_targets.txt
	else
		echo "test: fuzz build failed:"; tail -n 40 build-fuzz/cmake.log build-fuzz/build.log
		failed=$((failed + 1))
	fi

	echo "== valgrind: unit tests ($jobs at a time)"
	# test_store_retention and test_store_budget pack millions of bytes of
	# readings: 50 times slower under valgrind than anything else; the
	# ASan/UBSan build runs them. test_bus_link mostly waits for timeouts
	# of the simulator, which ASan covers as well.
	skip=" test_store_retention test_store_budget test_bus_link "
	vg() { # test program -> build/NAME.valgrind.log, exit status
		YW_SRC="$src" YW_BIN="$src/build" timeout 300 valgrind -q --leak-check=full \
			--errors-for-leak-kinds=definite --error-exitcode=99 "$1" \
			>"build/$(basename "$1").valgrind.log" 2>&1
	}
	vg_done() { # name, status
		if [ "$2" -eq 0 ]; then echo "valgrind $1: clean"; passed=$((passed + 1))
		else echo "valgrind $1: FAILED"; tail -n 40 "build/$1.valgrind.log"; failed=$((failed + 1)); fi
	}
	running=()
	for t in build/tests/test_*; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		case "$skip" in *" $n "*) echo "valgrind $n: skipped (run under ASan)"; continue ;; esac
		vg "$t" & running+=("$!:$n")
		if [ ${#running[@]} -ge "$jobs" ]; then
			wait "${running[0]%%:*}"; rc=$?
			vg_done "${running[0]#*:}" $rc
			running=("${running[@]:1}")
		fi
	done
	for r in "${running[@]}"; do
		wait "${r%%:*}"; rc=$?
		vg_done "${r#*:}" $rc
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
