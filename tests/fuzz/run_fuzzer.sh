#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: run_fuzzer.sh BINARY SECONDS WORKDIR CORPUS...
# New inputs go to WORKDIR (a scratch directory); crashes are written there too
# and the exit status is libFuzzer's (non-zero on any finding).
set -euo pipefail
bin=$1 seconds=$2 work=$3
shift 3
mkdir -p "$work"
corpora=()
for d in "$@"; do [ -d "$d" ] && corpora+=("$d"); done
exec "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work" "${corpora[@]}"
