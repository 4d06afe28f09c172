#!/usr/bin/env bash
# Fails when a C++ file is not formatted with the root .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format missing (scripts/deps.sh installs it)" >&2; exit 1; }
bad=$(git ls-files '*.cpp' '*.hpp' '*.h' | while read -r f; do
  [ -f "$f" ] && ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1 && echo "$f"; done || true)
if [ -n "$bad" ]; then
  echo "check-format: not formatted (run clang-format -i on them):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-format: all files formatted"
