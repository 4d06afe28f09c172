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
#   scripts/bench.sh [--validators N] [--batch K] [--duration S] [--inflight M] [--rate R [--linger-ms L]]
#                    [--per-call C] [--submitters A] [--monitor ws|poll] [--json]
#       The network: a fresh N-validator network (default 4) on 127.0.0.1
#       from the Release build, loaded by bench/loadgen.cpp with transactions
#       of K anchor entries (default 1) for S seconds (default 20) after a
#       3 s warm-up. Prints tx/s and anchors/s from the ledger, commit and
#       checkpoint latency (p50, p99), CPU seconds and peak RSS per validator,
#       and the signature ceiling measured in the same run. With --json the
#       last line is one JSON object. --rate R offers R tx/s open loop (for
#       latency at a fixed rate) instead of as many as M in flight allow;
#       with --linger-ms L a call waits L ms after its first transaction is
#       due and carries every one due by then (a client that batches, as the
#       data platform does); latency counts from each transaction's due time.
#       Transactions go in submit_txs calls of up to C (default 100; the bulk
#       path, docs/rpc.md); --per-call 1 sends each with submit_tx. The
#       load is signed by A submitter accounts (default 4, one per submitting
#       thread, as several data-platform agents would). A transaction is
#       committed when validator 0's WebSocket notification of its block
#       arrives (--monitor ws, the default; a client waiting with
#       `submit_tx wait` learns it as soon); --monitor poll asks every 10 ms
#       instead, as the benchmark did until 2026-12-07 (adds up to ~10 ms).
#       Stops every process it started, also on Ctrl-C.
#       --profile DIR also samples validator 0 with `perf record -g` (or
#       $CITYLEDGER_BENCH_PERF_ARGS, e.g. "--call-graph dwarf") during
#       the load and writes DIR/perf.data and DIR/report.txt (perf report,
#       by symbol with children) — how docs/performance.md's profile is made.
#
#   scripts/bench.sh --proofs [--validators N] [--leaves L] [--clients W] [--duration S] [--per-call P] [--json]
#       Auditors' reads: fills a fresh network's log to L leaves (default
#       100000), then W clients (default 4) request inclusion proofs of random
#       leaves from validator 0 back to back for S seconds; prints requests/s,
#       proofs/s, latency per request (p50, p99) and validator 0's CPU per
#       proof. --per-call P (default 1) sends P get_inclusion_proof calls per
#       HTTP request as one JSON-RPC batch (as `cityledger anchor --proof-dir`
#       does).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="" filter="." min_time="0.5" files=10000 total_mib=2048 lines=1000000
validators=4 batch=1 duration=20 inflight=2000 rate=0 linger_ms=0 per_call="" submitters=4 proofs=0 leaves=100000 proof_workers=4 json=0 profile="" monitor=ws
while [ $# -gt 0 ]; do
  case "$1" in
    --micro) mode=micro ;;
    --hash) mode=hash ;;
    --files) files=$2; shift ;;
    --total-mib) total_mib=$2; shift ;;
    --lines) lines=$2; shift ;;
    --validators) validators=$2; mode=${mode:-network}; shift ;;
    --batch) batch=$2; mode=${mode:-network}; shift ;;
    --duration) duration=$2; mode=${mode:-network}; shift ;;
    --inflight) inflight=$2; shift ;;
    --rate) rate=$2; mode=${mode:-network}; shift ;;
    --linger-ms) linger_ms=$2; mode=${mode:-network}; shift ;;
    --per-call) per_call=$2; mode=${mode:-network}; shift ;;
    --monitor) monitor=$2; mode=${mode:-network}; shift ;;
    --submitters) submitters=$2; mode=${mode:-network}; shift ;;
    --proofs) proofs=1; mode=${mode:-network} ;;
    --leaves) leaves=$2; shift ;;
    --clients) proof_workers=$2; shift ;;
    --json) json=1; mode=${mode:-network} ;;
    --profile) profile=$2; mode=${mode:-network}; shift ;;
    --filter) filter=$2; shift ;;
    --min-time) min_time=$2; shift ;;
    -h|--help) sed -n '2,43p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mode=${mode:-network}

# CITYLEDGER_BIN_DIR: use the executables there and build nothing (the CTest smoke test).
bin=${CITYLEDGER_BIN_DIR:-build/bin}
[ -n "${CITYLEDGER_BIN_DIR:-}" ] || ./scripts/build.sh >&2

if [ "$mode" = network ]; then
  work=$(mktemp -d)
  pids=()
  cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
      # A validator may be finishing a memtable flush (RocksDB's close waits
      # for it): seconds on a loaded machine after a long run.
      for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null || continue
      echo "bench.sh: validator process $p did not stop within 20 s of SIGTERM; killing it" >&2
      # With CITYLEDGER_BENCH_LOGS, where its threads were first.
      if [ -n "${CITYLEDGER_BENCH_LOGS:-}" ] && command -v gdb >/dev/null; then
        mkdir -p "$CITYLEDGER_BENCH_LOGS"
        gdb -p "$p" -batch -ex "thread apply all bt" >"$CITYLEDGER_BENCH_LOGS/stuck-$p.txt" 2>&1 || true
      fi
      kill -KILL "$p" 2>/dev/null || true
    done
    # CITYLEDGER_BENCH_LOGS=DIR keeps the validators' logs for a look afterwards.
    if [ -n "${CITYLEDGER_BENCH_LOGS:-}" ]; then
      mkdir -p "$CITYLEDGER_BENCH_LOGS" && cp "$work"/node*.log "$CITYLEDGER_BENCH_LOGS"/
    fi
    rm -rf "$work"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  port=${CITYLEDGER_BENCH_PORT:-29000}
  "$bin"/cityledgerd testnet --validators "$validators" --dir "$work/net" --base-port "$port" \
    --chain-id cityledger-bench --submitters "$submitters" --json >"$work/net.json"
  rpcs=()
  for i in $(seq 0 $((validators - 1))); do
    # Blocks as large as the limits allow; no idle heartbeat needed while loaded.
    sed -i -e 's/^empty_interval_ms = .*/empty_interval_ms = 1000/' \
      -e "s/^level = .*/level = '${CITYLEDGER_BENCH_LOG_LEVEL:-warn}'/" \
      "$work/net/node$i/config.toml"
    "$bin"/cityledgerd start --home "$work/net/node$i" 2>"$work/node$i.log" &
    pids+=($!)
    rpcs+=(--rpc "http://127.0.0.1:$((port + 10 * i + 1))")
  done
  for _ in $(seq 200); do
    h=$("$bin"/cityledger --rpc "http://127.0.0.1:$((port + 1))" --json status 2>/dev/null | jq -r '.height // 0' || echo 0)
    [ "${h:-0}" -ge 2 ] && break
    sleep 0.2
  done
  [ "${h:-0}" -ge 2 ] || { echo "bench.sh: the network did not start; see $work/node0.log" >&2; tail -5 "$work/node0.log" >&2; exit 1; }
  perf_pid=""
  if [ -n "$profile" ]; then
    if ! command -v perf >/dev/null && [ "$(id -u)" = 0 ]; then apt-get install -y linux-perf >&2; fi
    command -v perf >/dev/null || { echo "bench.sh: --profile needs perf (apt-get install linux-perf)" >&2; exit 2; }
    mkdir -p "$profile"
    # The load generator warms up for 3 s before its measured window.
    (sleep 3; exec perf record ${CITYLEDGER_BENCH_PERF_ARGS:--g} -F 499 -p "${pids[0]}" -o "$profile/perf.data" -- sleep "$duration") \
      >"$profile/perf-record.log" 2>&1 &
    perf_pid=$!
  fi
  keys=()
  while read -r k; do keys+=(--key "$k"); done < <(jq -r '.keys.submitters[]' "$work/net.json")
  if [ "$proofs" = 1 ]; then
    # Fill the log to --leaves with batches of 1000, then read proofs.
    size=0
    while [ "$size" -lt "$leaves" ]; do
      "$bin"/cityledger_loadgen "${rpcs[@]}" "${keys[@]}" --batch 1000 --duration 3 --warmup 0 \
        --inflight 200 --per-call 10 >/dev/null
      size=$("$bin"/cityledger --rpc "http://127.0.0.1:$((port + 1))" --json status | jq -r '.tree_size')
      echo "bench.sh: log size $size of $leaves" >&2
    done
    tick=$(getconf CLK_TCK)
    node_cpu() { awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/${pids[0]}/stat"; }
    cpu_before=$(node_cpu)
    result=$("$bin"/cityledger_loadgen --proofs --rpc "http://127.0.0.1:$((port + 1))" \
      --workers "$proof_workers" --duration "$duration" --proofs-per-call "${per_call:-1}")
    # Validator 0's CPU seconds while it served the proofs (and the warm-up,
    # which the per-proof figure leaves out: an upper bound).
    result=$(jq -c --argjson cpu "$(awk -v a="$cpu_before" -v b="$(node_cpu)" 'BEGIN { printf "%.2f", b - a }')" \
      '. + {node_cpu_s: $cpu, node_cpu_us_per_proof: (if .proofs > 0 then $cpu * 1e6 / .proofs else null end)}' <<<"$result")
    jq -r '"get_inclusion_proof on one node, log of \(.tree_size) leaves, \(.workers) clients, \(.proofs_per_call) per request: \(.proof_requests_per_s|floor) requests/s, \(.proofs_per_s|floor) proofs/s; p50 \(.p50_ms*1000|floor) us p99 \(.p99_ms*1000|floor) us per request; validator 0 \(.node_cpu_us_per_proof // 0|floor) us of CPU per proof; \(.failures) failures"' <<<"$result" >&2
    if [ "$json" = 1 ]; then echo "$result"; fi
    exit 0
  fi
  result=$("$bin"/cityledger_loadgen "${rpcs[@]}" "${keys[@]}" --batch "$batch" \
    --duration "$duration" --inflight "$inflight" --rate "$rate" --linger-ms "$linger_ms" \
    --per-call "${per_call:-100}" --monitor "$monitor")
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    perf report -i "$profile/perf.data" --stdio --children --percent-limit 1.5 --sort symbol \
      >"$profile/report.txt" 2>/dev/null || true
    echo "bench.sh: profile of validator 0 in $profile/report.txt" >&2
  fi
  # CPU seconds and peak RSS of each validator, from /proc, before stopping them.
  tick=$(getconf CLK_TCK)
  per=()
  for i in "${!pids[@]}"; do
    p=${pids[$i]}
    cpu=$(awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$p/stat")
    rss=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status")
    per+=("{\"node\": $i, \"cpu_s\": $cpu, \"peak_rss_mib\": $rss}")
  done
  per_json="[$(IFS=,; echo "${per[*]}")]"
  final=$(jq -c --argjson v "$per_json" '. + {per_validator: $v}' <<<"$result")
  jq -r '"validators \(.validators), batch \(.batch): \(.tx_per_s|floor) tx/s, \(.anchors_per_s|floor) anchors/s; commit p50 \(.p50_commit_ms|floor) ms p99 \(.p99_commit_ms|floor) ms; checkpoint p50 \(.p50_checkpoint_ms|floor) ms p99 \(.p99_checkpoint_ms|floor) ms; signature ceiling \(.ceiling_tx_per_s|floor) tx/s (\(.fraction_of_ceiling * 100 | floor)%)"' <<<"$final" >&2
  jq -r '.per_validator[] | "  node\(.node): \(.cpu_s) CPU s, peak RSS \(.peak_rss_mib) MiB"' <<<"$final" >&2
  if [ "$json" = 1 ]; then echo "$final"; fi
  exit 0
fi

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
  s_one=$(seconds xargs -a "$work/list" "$bin"/cityledger hash --threads 1)
  s_two=$(seconds xargs -a "$work/list" "$bin"/cityledger hash --threads 2)
  awk -v n="$lines" 'BEGIN { for (i = 1; i <= n; i++) printf "2026-11-29T%02d:%02d:%02d,AQ-%02d,%d\n", i % 24, i % 60, i % 60, i % 17, (i * 37) % 97 }' >"$work/records.csv"
  s_rec=$(seconds "$bin"/cityledger hash --records "$work/records.csv")
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
  [ -x "$bin/$b" ] || continue
  "$bin/$b" --benchmark_filter="$filter" --benchmark_min_time="$min_time" \
    --benchmark_out="$out" --benchmark_out_format=json >&2
  cat "$out"
done
