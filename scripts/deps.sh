#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build, test and benchmark
# nfq-bench. Idempotent: installs only missing packages and says what it does.
set -euo pipefail

# Debian package -> why we need it.
packages=(
  "gcc:C compiler for the C filter"
  "libc6-dev:C headers"
  "pkg-config:finds libnetfilter_queue and libmnl"
  "libnetfilter-queue-dev:the C filter's NFQUEUE library"
  "libmnl-dev:netlink library under libnetfilter_queue"
  "iptables:installs the NFQUEUE rule"
  "iproute2:network namespaces (ip netns)"
  "iperf3:load generator"
  "valgrind:instruction counts of the micro-benchmark"
  "clang:C fuzz targets (libFuzzer)"
  "python3:fuzz seed and corpus tools"
)
# libFuzzer and clang's sanitizer runtimes live in a package named after clang's version.
if command -v clang >/dev/null 2>&1; then
  v=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
  [ -n "$v" ] && packages+=("libclang-rt-$v-dev:libFuzzer and sanitizer runtimes for clang $v")
fi
if [ -n "${NFQB_EXTRA_DEPS:-}" ]; then
  for p in $NFQB_EXTRA_DEPS; do packages+=("$p:requested"); done
fi

missing=()
for entry in "${packages[@]}"; do
  pkg=${entry%%:*}
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    echo "deps: $pkg present"
  else
    echo "deps: $pkg missing (${entry#*:})"
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: installing ${missing[*]} needs root: run 'sudo make deps'" >&2
    exit 1
  fi
  echo "deps: apt-get update"
  apt-get update -q
  echo "deps: apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found: install Rust (https://rustup.rs) and re-run" >&2
  exit 1
fi
echo "deps: $(cargo --version)"

# Fuzzing needs cargo-fuzz (from crates.io) and clang's runtimes, which exist only once
# clang is installed: a second pass picks them up.
if [ -n "${NFQB_FUZZ_DEPS:-}" ]; then
  v=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
  if ! dpkg-query -W -f='${Status}' "libclang-rt-$v-dev" 2>/dev/null | grep -q "install ok installed"; then
    echo "deps: apt-get install libclang-rt-$v-dev"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "libclang-rt-$v-dev"
  fi
  if cargo fuzz --version >/dev/null 2>&1; then
    echo "deps: $(cargo fuzz --version) present"
  else
    echo "deps: cargo install cargo-fuzz"
    cargo install --locked cargo-fuzz
  fi
fi
