#!/usr/bin/env bash
# Deterministic cluster simulation soaks (docs/simulation.md), from the Release
# build in build/ (built first if needed).
#
#   scripts/sim.sh --seeds N [--validators 4|7] [--seed S] [other cityledger_sim flags]
#       runs seeds S..S+N-1 (S defaults to a random start, printed, so soaks
#       explore new seeds; pass --seed to pin it). On a failure it prints the
#       exact replay command with a trace and exits non-zero.
#   scripts/sim.sh --bench [--validators 4]
#       committed heights per wall-clock second on a calm network, as JSON.
#   scripts/sim.sh --validators 4 --seed 12345 --trace
#       replays one seed, printing every step.
#
# --jobs J splits a soak over J processes (default: the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="" seed="" jobs=$(nproc) args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift ;;
    --seed) seed=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

if [ ! -x build/bin/cityledger_sim ] || [ -n "$(find tests/sim consensus -newer build/bin/cityledger_sim \
    -name '*.[ch]pp' 2>/dev/null | head -1)" ]; then
  [ -f build/build.ninja ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C build cityledger_sim >&2
fi
sim=build/bin/cityledger_sim

if [ -z "$seeds" ]; then
  # One seed (replay), the benchmark, or whatever the flags ask for.
  exec "$sim" ${seed:+--seed "$seed"} "${args[@]}"
fi

if [ -z "$seed" ]; then
  seed=$(( (RANDOM << 30) | (RANDOM << 15) | RANDOM ))
fi
echo "sim.sh: seeds $seed..$((seed + seeds - 1)) over $jobs process(es)" >&2
pids=() logs=()
for ((j = 0; j < jobs; j++)); do
  first=$((seed + seeds * j / jobs))
  count=$((seed + seeds * (j + 1) / jobs - first))
  [ "$count" -gt 0 ] || continue
  log=$(mktemp)
  logs+=("$log")
  "$sim" --seed "$first" --seeds "$count" "${args[@]}" >"$log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then status=1; fi
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
exit $status
