#!/usr/bin/env bash
# Benchmarks print machine-readable JSON.
#
#   scripts/bench.sh --micro [--filter REGEX] [--min-time S]
#       Google Benchmark micro-benchmarks of every module (crypto, ledger,
#       consensus) from the Release build; one JSON document per executable on
#       stdout, human-readable tables on stderr.
#
# The network benchmark (--validators N --batch K ...) arrives with the
# throughput issue.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="" filter="." min_time="0.5"
while [ $# -gt 0 ]; do
  case "$1" in
    --micro) mode=micro ;;
    --filter) filter=$2; shift ;;
    --min-time) min_time=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$mode" = micro ] || { echo "bench.sh: only --micro is available so far (see --help)" >&2; exit 2; }

./scripts/build.sh >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for b in crypto_bench ledger_bench consensus_bench; do
  [ -x "build/bin/$b" ] || continue
  "build/bin/$b" --benchmark_filter="$filter" --benchmark_min_time="$min_time" \
    --benchmark_out="$out" --benchmark_out_format=json >&2
  cat "$out"
done
