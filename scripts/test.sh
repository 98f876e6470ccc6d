#!/usr/bin/env bash
# Runs every test of wa-preflight on a Debian 12 machine, as root: installs and starts what the
# tests need first. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo not found; install a Rust toolchain >= 1.85 (rustup) first" >&2
  exit 1
fi

# Real services the tests talk to (dockerd twice); host-fact tests need only procfs/sysfs.
./scripts/testbed.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked
