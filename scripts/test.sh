#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test tier through CTest:
#   1. Release build: unit, sim, cluster and fuzz-corpus replay tests;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build (clang): the same tests;
#   3. the same clang build's libFuzzer targets, each for a bounded time.
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

# Tier 2 and 3 share one clang build: every library, test and fuzz target is
# compiled with ASan+UBSan (and libFuzzer's coverage hooks), at -O1 with line
# tables only, which halves the build time of a separate -O2 -g ASan build.
if [ "$asan" = 1 ] || [ "$fuzz" = 1 ]; then
  section "ASan+UBSan+libFuzzer build (clang)"
  cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCITYLEDGER_FUZZ=ON -DCITYLEDGER_FUZZ_SECONDS="$fuzz_seconds" -DCITYLEDGER_BENCH=OFF >/dev/null
  ninja -C build-san
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
if [ "$asan" = 1 ]; then
  section "ASan+UBSan tests"
  CITYLEDGER_SANITIZED=1 CITYLEDGER_SIM_SEEDS=${CITYLEDGER_ASAN_SIM_SEEDS:-300} \
    ctest --test-dir build-san -j"$jobs" --output-on-failure --timeout 1800 --label-exclude fuzz
fi
if [ "$fuzz" = 1 ]; then
  section "fuzzing, ${fuzz_seconds}s per target"
  ctest --test-dir build-san -j"$jobs" --output-on-failure --timeout $((fuzz_seconds * 4 + 120)) \
    --label-regex fuzz
fi

section "all tests passed"
