#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier through CTest:
#   1. Release build: unit, sim, cluster and fuzz-corpus replay tests;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: the same tests;
#   3. clang libFuzzer build: every fuzz target for a bounded time.
# Exits non-zero on any failure.
#
#   --no-asan      skip tier 2          --no-fuzz     skip tier 3
#   --fuzz-seconds N   seconds per fuzz target (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."

asan=1 fuzz=1 fuzz_seconds=15
while [ $# -gt 0 ]; do
  case "$1" in
    --no-asan) asan=0 ;;
    --no-fuzz) fuzz=0 ;;
    --fuzz-seconds) fuzz_seconds=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

jobs=$(nproc)
section() { printf '\n==== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

section "dependencies"
./scripts/deps.sh

section "format check"
./scripts/check-format.sh

section "Release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build
section "Release tests"
ctest --test-dir build -j"$jobs" --output-on-failure --timeout 900

if [ "$asan" = 1 ]; then
  section "ASan+UBSan build"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCITYLEDGER_SANITIZE=ON \
    -DCITYLEDGER_BENCH=OFF >/dev/null
  ninja -C build-asan
  section "ASan+UBSan tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  CITYLEDGER_SANITIZED=1 CITYLEDGER_SIM_SEEDS=${CITYLEDGER_ASAN_SIM_SEEDS:-300} \
    ctest --test-dir build-asan -j"$jobs" --output-on-failure --timeout 1800
fi

if [ "$fuzz" = 1 ]; then
  section "libFuzzer build (clang)"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DCITYLEDGER_FUZZ=ON -DCITYLEDGER_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
  ninja -C build-fuzz
  section "fuzzing, ${fuzz_seconds}s per target"
  ctest --test-dir build-fuzz -j"$jobs" --output-on-failure --timeout $((fuzz_seconds * 4 + 120))
fi

section "all tests passed"
