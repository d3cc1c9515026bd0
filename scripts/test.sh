#!/bin/sh
# Run every Postern test: build with gcc (-Werror) and clang, unit tests,
# system tests on loopback, the same under AddressSanitizer and
# UndefinedBehaviorSanitizer, and each libFuzzer target for a short time.
# Usage: scripts/test.sh        (as root on Debian 12 installs what it needs)
# Environment: FUZZ_SECONDS (default 15 per target), SKIP_DEPS=1.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
fuzz_seconds=${FUZZ_SECONDS:-15}
py=/usr/bin/python3

if [ "$(id -u)" = 0 ] && [ -z "${SKIP_DEPS:-}" ]; then
    scripts/install-deps.sh test
fi

step() { printf '\n==== %s\n' "$*"; }

step "build with gcc (-Wall -Wextra -Werror)"
[ -d build ] || meson setup build >/dev/null
ninja -C build

step "build with clang (compile check)"
[ -d build-clang ] || CC=clang meson setup build-clang >/dev/null
ninja -C build-clang >/dev/null

step "unit tests"
meson test -C build --suite unit --print-errorlogs

step "system tests"
POSTERN_BUILD_DIR=$top/build $py -m pytest -q -p no:cacheprovider tests/system

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=undefined >/dev/null
ninja -C build-asan >/dev/null

step "unit tests under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 meson test -C build-asan --suite unit --print-errorlogs

step "system tests under ASan/UBSan"
# Daemons exit through exit(); leak reports there are not errors of the test.
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    POSTERN_BUILD_DIR=$top/build-asan POSTERN_SANITIZED=1 \
    $py -m pytest -q -p no:cacheprovider tests/system

step "fuzz targets (${fuzz_seconds}s each)"
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
ninja -C build-fuzz >/dev/null
# Two at a time (one per core). A crash input is kept under build-fuzz/.
run_fuzzer() {
    target=$1
    name=$(basename "$target")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    corpus=build-fuzz/corpus/$name
    mkdir -p "$corpus"
    if "$target" -max_total_time="$fuzz_seconds" -print_final_stats=0 -artifact_prefix=build-fuzz/ \
            "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) >"build-fuzz/$name.log" 2>&1; then
        echo "-- $name: $(grep -E '^#[0-9]+.*DONE' "build-fuzz/$name.log" | tail -1)"
    else
        tail -40 "build-fuzz/$name.log"
        echo "FUZZ FAILURE: $name (crash input saved under build-fuzz/)"
        return 1
    fi
}
fuzz_failed=0
pending=""
for target in build-fuzz/tests/fuzz/fuzz_*; do
    [ -f "$target" ] && [ -x "$target" ] || continue
    run_fuzzer "$target" &
    pending="$pending $!"
    set -- $pending
    if [ $# -ge 2 ]; then
        for pid in $pending; do wait "$pid" || fuzz_failed=1; done
        pending=""
    fi
done
for pid in $pending; do wait "$pid" || fuzz_failed=1; done
[ "$fuzz_failed" = 0 ] || exit 1

step "all tests passed"
