#!/usr/bin/env bash
# A local 4-validator cityledger network, in one command:
#
#   ./scripts/localnet.sh          install what is missing, build, create the
#                                  network under ./localnet (once), start it in
#                                  the background, anchor examples/city-data,
#                                  verify one proof offline, say what to try next
#   ./scripts/localnet.sh stop     stop the validators
#   ./scripts/localnet.sh status   show whether each validator runs, and node 0's view
#   ./scripts/localnet.sh reset    stop and delete ./localnet (a new chain next start)
#
# Validator i listens on 127.0.0.1:$((26600+10*i)) (p2p) and :$((26601+10*i))
# (JSON-RPC); the cityledger CLI's default --rpc is node 0. Logs and pids are
# in ./localnet/nodeI.log and ./localnet/nodeI.pid.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=$root/localnet
base_port=${CITYLEDGER_LOCALNET_PORT:-26600}
validators=4
bin=$root/build/bin
rpc0=http://127.0.0.1:$((base_port + 1))

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  local any=0
  for pidfile in "$dir"/node*.pid; do
    [ -f "$pidfile" ] || continue
    if running "$pidfile"; then
      kill -TERM "$(cat "$pidfile")" && any=1
    fi
  done
  for pidfile in "$dir"/node*.pid; do
    [ -f "$pidfile" ] || continue
    for _ in $(seq 50); do running "$pidfile" || break; sleep 0.1; done
    if running "$pidfile"; then
      echo "localnet: $(basename "$pidfile" .pid) did not stop within 5 s; killing it" >&2
      kill -KILL "$(cat "$pidfile")" || true
    fi
    rm -f "$pidfile"
  done
  [ "$any" = 1 ] && echo "localnet: stopped" || echo "localnet: nothing was running"
}

status() {
  for i in $(seq 0 $((validators - 1))); do
    if running "$dir/node$i.pid"; then
      echo "node$i  running (pid $(cat "$dir/node$i.pid")), rpc http://127.0.0.1:$((base_port + 10 * i + 1))"
    else
      echo "node$i  stopped"
    fi
  done
  [ -x "$bin/cityledger" ] && "$bin/cityledger" --rpc "$rpc0" status || true
}

case "${1:-start}" in
  stop) stop; exit 0 ;;
  status) status; exit 0 ;;
  reset) stop; rm -rf "$dir"; echo "localnet: removed $dir"; exit 0 ;;
  start) ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "localnet.sh: unknown command $1 (start, stop, status, reset)" >&2; exit 2 ;;
esac

echo "==> dependencies and Release build"
./scripts/build.sh >/dev/null

if [ ! -f "$dir/genesis.json" ]; then
  echo "==> creating a $validators-validator network in $dir"
  "$bin/cityledgerd" testnet --validators "$validators" --dir "$dir" --base-port "$base_port" \
    --chain-id cityledger-localnet --json >"$dir.json.tmp"
  mv "$dir.json.tmp" "$dir/network.json"
  # Commit an empty block every second when idle, so checkpoints come quickly.
  for i in $(seq 0 $((validators - 1))); do
    sed -i 's/^empty_interval_ms = .*/empty_interval_ms = 1000/' "$dir/node$i/config.toml"
  done
fi

echo "==> starting the validators"
for i in $(seq 0 $((validators - 1))); do
  if running "$dir/node$i.pid"; then
    echo "node$i already running (pid $(cat "$dir/node$i.pid"))"
    continue
  fi
  nohup "$bin/cityledgerd" start --home "$dir/node$i" >>"$dir/node$i.log" 2>&1 &
  echo $! >"$dir/node$i.pid"
done

echo "==> waiting for the first committed blocks"
for _ in $(seq 120); do
  h=$("$bin/cityledger" --rpc "$rpc0" --json status 2>/dev/null | jq -r '.height // 0' || echo 0)
  [ "${h:-0}" -ge 2 ] && break
  sleep 0.5
done
if [ "${h:-0}" -lt 2 ]; then
  echo "localnet: the network did not commit within 60 s; see $dir/node*.log" >&2
  tail -n 20 "$dir"/node0.log >&2
  exit 1
fi
"$bin/cityledger" --rpc "$rpc0" status

mapfile -t files < <(find examples/city-data -type f ! -name README.md | sort)
missing=()
for f in "${files[@]}"; do
  [ -f "$dir/proofs/$(basename "$f").proof.json" ] || missing+=("$f")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "==> examples/city-data is anchored already (proofs in $dir/proofs)"
else
  echo "==> anchoring examples/city-data"
  "$bin/cityledger" --rpc "$rpc0" anchor --key "$dir/keys/submitter.key" --dataset city-data-sample \
    --meta source=examples/city-data --wait --proof-dir "$dir/proofs" "${missing[@]}"
fi

sample=${files[0]}
proof=$dir/proofs/$(basename "$sample").proof.json
echo "==> verifying $(basename "$proof") offline, trusting only genesis.json"
"$bin/cityledger" verify --genesis "$dir/genesis.json" --proof "$proof" --file "$sample"

# A PPP contract (docs/contracts.md): registered with every party's
# co-signature, one payment co-signed by the city, its proof verified.
contract=smart-lighting-2027
if [ ! -f "$dir/keys/partner.key" ]; then
  echo "==> skipping the PPP contract demo: $dir was made before partner.key existed (./scripts/localnet.sh reset)"
elif "$bin/cityledger" --rpc "$rpc0" contract show "$contract" >/dev/null 2>&1; then
  echo "==> PPP contract $contract is registered already"
else
  echo "==> registering PPP contract $contract; the city co-signs a payment"
  mkdir -p "$dir/ppp"
  for p in city operator contractor; do
    [ -f "$dir/ppp/$p.key" ] || "$bin/cityledger" keygen --out "$dir/ppp/$p.key" >/dev/null
  done
  pub() { "$bin/cityledger" pubkey --key "$dir/ppp/$1.key"; }
  "$bin/cityledger" --rpc "$rpc0" contract register --id "$contract" \
    --title "Smart street lighting, design-build-operate 2027-2037" \
    --party "city=$(pub city)" --party "operator=$(pub operator)" --party "contractor=$(pub contractor)" \
    --rule cost-share=city,operator --rule milestone=contractor --rule payment=city \
    --cosign-key "$dir/ppp/city.key" --cosign-key "$dir/ppp/operator.key" --cosign-key "$dir/ppp/contractor.key" \
    --key "$dir/keys/partner.key" --wait
  printf 'Invoice 2027-017: 4,000 LED luminaires, district north\n' > "$dir/ppp/invoice-2027-017.txt"
  "$bin/cityledger" --rpc "$rpc0" contract event --id "$contract" --kind payment \
    --payload-file "$dir/ppp/invoice-2027-017.txt" --amount 1250000.00 --currency EUR \
    --cosign-key "$dir/ppp/city.key" --key "$dir/keys/partner.key" --wait
fi
if [ -f "$dir/keys/partner.key" ]; then
  for _ in $(seq 1 60); do  # the covering checkpoint follows the commit by a moment
    "$bin/cityledger" --rpc "$rpc0" contract events "$contract" --proof-dir "$dir/ppp/proofs" >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$bin/cityledger" verify --genesis "$dir/genesis.json" --proof "$dir/ppp/proofs/$contract-event-1.proof.json"
fi

cat <<NEXT

The network is running in the background (logs: $dir/node*.log).
Try next:
  build/bin/cityledger status
  build/bin/cityledger anchor --key $dir/keys/submitter.key --wait --proof-dir /tmp/proofs FILE...
  build/bin/cityledger proof --hash \$(build/bin/cityledger hash $sample | cut -c1-64) --out /tmp/p.json
  build/bin/cityledger verify --genesis $dir/genesis.json --proof /tmp/p.json --file $sample
  build/bin/cityledger watch --genesis $dir/genesis.json --state /tmp/watch.json
  build/bin/cityledger contract events $contract     (a PPP contract, docs/contracts.md)
  open $rpc0/explorer in a browser (blocks, validators, verify a file)
  curl -s $rpc0/metrics    (Prometheus metrics, docs/metrics.md)
  ./scripts/localnet.sh stop
NEXT
