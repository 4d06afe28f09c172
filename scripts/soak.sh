#!/usr/bin/env bash
# Soak test: random faults (partitions, loss, SIGKILL, SIGSTOP, a full disk)
# on a 4-validator network in network namespaces, with continuous anchoring.
#
#   ./scripts/soak.sh --minutes M [--seed S] [--json] [--base-port P]
#
# Prints faults injected by kind, anchors acknowledged, anchors lost (must be
# 0), safety violations (must be 0) and the longest stall; exits non-zero if
# anything was lost or forked. Needs root (namespaces, nftables, a tmpfs).
# CITYLEDGER_BIN_DIR=DIR uses binaries already built there instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CITYLEDGER_BIN_DIR:-}" ]; then
  ./scripts/deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build cityledgerd cityledger >/dev/null
  CITYLEDGER_BIN_DIR=build/bin
fi
exec python3 tests/cluster/netns/soak.py --bin "$CITYLEDGER_BIN_DIR/cityledgerd" \
  --cli "$CITYLEDGER_BIN_DIR/cityledger" "$@"
