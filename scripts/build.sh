#!/usr/bin/env bash
# Installs what is missing, then builds a Release build into build/.
# Executables land in build/bin/ (cityledgerd, cityledger, tests, benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
ninja -C build
