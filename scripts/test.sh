#!/usr/bin/env bash
# Runs every test of wa-preflight on a Debian 12 machine, as root: installs and starts what the
# tests need first. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo not found; install a Rust toolchain >= 1.85 (rustup) first" >&2
  exit 1
fi

# Real services the tests talk to (dockerd twice, MariaDB three ways, PostgreSQL 11/12/13/15);
# host-fact tests need only procfs/sysfs.
./scripts/testbed.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
# The packages users get (static musl binary, .deb, .rpm) take minutes of CPU to build: they
# build beside the tests at the lowest CPU priority (the tests mostly wait on dockerd and the
# databases, and a waking test preempts a nice-19 compiler), in a target folder of their own.
mkdir -p target
echo "== packages (building in the background: target/package.log)"
nice -n 19 ./scripts/package.sh > target/package.log 2>&1 &
package_pid=$!

# Snapshots are reviewed, never written by the suite: a missing or changed one fails
# (INSTA_UPDATE=no), also where the CI variable is not set; INSTA_FORCE_PASS could hide it.
export INSTA_UPDATE=no
unset INSTA_FORCE_PASS
echo "== cargo test"
tests_ok=0
cargo test --locked || tests_ok=$?

echo "== packages"
if ! wait "$package_pid"; then
  cat target/package.log >&2
  echo "test.sh: building the packages failed" >&2
  exit 1
fi
[ "$tests_ok" = 0 ] || exit "$tests_ok"
./scripts/test-package.sh

# Nothing the suite or the probe created may remain on either daemon.
echo "== leftovers"
leftovers=0
for sock in /var/run/docker.sock /run/wa-preflight-test/docker-deny.sock; do
  for label in wa-preflight.test wa-preflight.probe; do
    c=$(DOCKER_HOST="unix://$sock" docker ps -aq --filter "label=$label" | wc -l)
    i=$(DOCKER_HOST="unix://$sock" docker images -q --filter "label=$label" | wc -l)
    if [ "$c" != 0 ] || [ "$i" != 0 ]; then
      echo "leftover on $sock ($label): $c containers, $i images" >&2
      leftovers=1
    fi
  done
done
exit $leftovers
