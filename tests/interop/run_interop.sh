#!/usr/bin/env bash
# The independent Python verifier accepts a real bundle, and rejects a tampered
# bundle and a wrong file: docs/proof-format.md is enough to write a verifier.
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
echo "interop: the independent verifier agrees"
