#!/usr/bin/env bash
# Benchmarks print machine-readable JSON.
#
#   scripts/bench.sh --micro [--filter REGEX] [--min-time S]
#       Google Benchmark micro-benchmarks of every module (crypto, ledger,
#       consensus) from the Release build; one JSON document per executable on
#       stdout, human-readable tables on stderr.
#
#   scripts/bench.sh --hash [--files N] [--total-mib M] [--lines L]
#       The data platform's hashing: N files totalling M MiB (default 10000
#       and 2048) in a temp dir, page cache warm; times sha256sum (one core)
#       and `cityledger hash` with 1 and 2 threads over the same files, and
#       `cityledger hash --records` over an L-line CSV (default 1000000).
#       Prints one JSON object.
#
# The network benchmark (--validators N --batch K ...) arrives with the
# throughput issue.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="" filter="." min_time="0.5" files=10000 total_mib=2048 lines=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --micro) mode=micro ;;
    --hash) mode=hash ;;
    --files) files=$2; shift ;;
    --total-mib) total_mib=$2; shift ;;
    --lines) lines=$2; shift ;;
    --filter) filter=$2; shift ;;
    --min-time) min_time=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$mode" ] || { echo "bench.sh: give --micro or --hash (see --help)" >&2; exit 2; }

./scripts/build.sh >&2

if [ "$mode" = hash ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  per_file=$(( total_mib * 1024 * 1024 / files ))
  echo "bench.sh: writing $files files of $per_file bytes to $work" >&2
  head -c "$per_file" /dev/urandom >"$work/seed"
  mkdir "$work/data"
  for i in $(seq 1 "$files"); do
    d=$work/data/d$(( i % 100 ))
    [ -d "$d" ] || mkdir "$d"
    { printf '%08d' "$i"; tail -c +9 "$work/seed"; } >"$d/f$i.bin"
  done
  find "$work/data" -type f | sort >"$work/list"
  xargs -a "$work/list" cat >/dev/null  # warm the page cache
  seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'; }
  s_sum=$(seconds xargs -a "$work/list" sha256sum)
  s_one=$(seconds xargs -a "$work/list" build/bin/cityledger hash --threads 1)
  s_two=$(seconds xargs -a "$work/list" build/bin/cityledger hash --threads 2)
  awk -v n="$lines" 'BEGIN { for (i = 1; i <= n; i++) printf "2026-11-29T%02d:%02d:%02d,AQ-%02d,%d\n", i % 24, i % 60, i % 60, i % 17, (i * 37) % 97 }' >"$work/records.csv"
  s_rec=$(seconds build/bin/cityledger hash --records "$work/records.csv")
  jq -n --argjson files "$files" --argjson mib "$total_mib" --argjson lines "$lines" \
    --argjson sum "$s_sum" --argjson one "$s_one" --argjson two "$s_two" --argjson rec "$s_rec" \
    '{files: $files, total_mib: $mib, sha256sum_s: $sum, cityledger_1_thread_s: $one, cityledger_2_threads_s: $two,
      speed_vs_sha256sum_1_thread: ($sum / $one), speed_vs_sha256sum_2_threads: ($sum / $two),
      records_lines: $lines, records_s: $rec, cores: '"$(nproc)"'}'
  exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for b in crypto_bench ledger_bench consensus_bench; do
  [ -x "build/bin/$b" ] || continue
  "build/bin/$b" --benchmark_filter="$filter" --benchmark_min_time="$min_time" \
    --benchmark_out="$out" --benchmark_out_format=json >&2
  cat "$out"
done
