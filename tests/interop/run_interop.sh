#!/usr/bin/env bash
# The independent Python verifier accepts a real bundle, and rejects a tampered
# bundle and a wrong file, and follows a validator-set change:
# docs/proof-format.md is enough to write a verifier.
set -euo pipefail
make_bundle=$1 script=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$make_bundle" "$dir"
python3 "$script" "$dir/genesis.json" "$dir/proof.json" "$dir/data.csv"
if python3 "$script" "$dir/genesis.json" "$dir/tampered.json" "$dir/data.csv"; then
  echo "FAIL: a tampered bundle verified"; exit 1
fi
echo "tampered" > "$dir/other.csv"
if python3 "$script" "$dir/genesis.json" "$dir/proof.json" "$dir/other.csv"; then
  echo "FAIL: a wrong file verified"; exit 1
fi
# Across a validator-set change: the later approved set verifies; the removed
# set's signatures, a never-approved change and a stale one do not.
python3 "$script" "$dir/genesis.json" "$dir/set-change.json" "$dir/data.csv"
# Removal, addition and key rotation: the new key signs, the old one does not count.
python3 "$script" "$dir/genesis.json" "$dir/set-change-chain.json" "$dir/data.csv"
for refused in set-change-removed set-change-unapproved set-change-stale set-change-chain-old-key; do
  if python3 "$script" "$dir/genesis.json" "$dir/$refused.json" "$dir/data.csv"; then
    echo "FAIL: $refused.json verified"; exit 1
  fi
done
echo "interop: the independent verifier agrees"
