#!/usr/bin/env bash
# Installs every Debian 12 package cityledger needs, and only what is missing.
# Idempotent; must run as root (or with sudo available) on a fresh machine.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev clang-format
  # core libraries
  libssl-dev libsecp256k1-dev librocksdb-dev libprotobuf-dev protobuf-compiler
  libboost-dev libboost-system-dev
  # helpers preferred over hand-written code
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev
  # sd_notify (Type=notify, watchdog) for the systemd unit
  libsystemd-dev
  # packaging: the .deb (cpack -G DEB) and its shared-library Depends
  dpkg-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # scripts
  curl jq procps python3
  # tests/cluster/netns: namespaces, bridges and fault injection
  iproute2 nftables
  # the explorer's browser test (tests/browser): headless Chromium driven over WebDriver
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
  sudo_cmd=(sudo)
fi

install_promtool() {
  # promtool (the metrics cluster test runs `promtool check metrics`): only its
  # binary, taken from Debian's prometheus package with apt-get download, so
  # neither the Prometheus server nor its service is installed.
  local dir=/opt/cityledger-tools
  [ -x "$dir/promtool" ] && return 0
  echo "deps.sh: fetching promtool from Debian's prometheus package into $dir" >&2
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && "${sudo_cmd[@]}" apt-get download -qq prometheus 2>/dev/null ||
    { "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get download -qq prometheus; })
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  "${sudo_cmd[@]}" install -D -m 0755 "$tmp/root/usr/bin/promtool" "$dir/promtool"
  rm -rf "$tmp"
}

if [ ${#missing[@]} -eq 0 ]; then
  install_promtool
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ] && [ ${#sudo_cmd[@]} -eq 0 ]; then
  echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent on a fresh machine; refresh them once.
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_promtool
