#!/usr/bin/env bash
# Installs and starts the real services the tests talk to (Debian 12, as root). Idempotent:
# what is already installed or running is left alone. Run by scripts/test.sh; the database
# servers are started by scripts/testbed-db.sh, called at the end.
#
#   dockerd         Debian's docker.io on /var/run/docker.sock
#   dockerd "deny"  a second daemon whose default seccomp profile denies statx, on
#                   /run/wa-preflight-test/docker-deny.sock, with its own bridge (a second
#                   daemon started with --bridge none would delete the first one's docker0)
set -euo pipefail

TESTBED_DIR=/run/wa-preflight-test
DENY_SOCK="$TESTBED_DIR/docker-deny.sock"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_packages() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v file >/dev/null 2>&1 || missing+=(file)
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [ -x /bin/busybox ] && grep -q 'statically linked' <<<"$(file -L /bin/busybox 2>/dev/null)" || missing+=(busybox-static)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  # Packaging and its tests: musl-gcc for the static build, rpm to read the .rpm, promtool
  # (Debian's prometheus) to check the alert rules, systemd-analyze to verify the units.
  command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
  command -v rpm >/dev/null 2>&1 || missing+=(rpm)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  # tests/integration/trust_store.rs installs a test CA into the system store and takes it out again.
  command -v update-ca-certificates >/dev/null 2>&1 || missing+=(ca-certificates)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "testbed: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

wait_for_socket() { # socket, log
  for _ in $(seq 1 60); do
    if curl -fsS --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "testbed: dockerd on $1 did not come up; its log:" >&2
  tail -n 30 "$2" >&2 || true
  return 1
}

start_dockerd() {
  if curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
    return 0
  fi
  echo "testbed: starting dockerd"
  mkdir -p "$TESTBED_DIR"
  # A daemon killed without cleanup leaves its pidfile; a reused pid would block the start.
  rm -f /var/run/docker.pid
  setsid dockerd >"$TESTBED_DIR/dockerd.log" 2>&1 < /dev/null &
  wait_for_socket /var/run/docker.sock "$TESTBED_DIR/dockerd.log"
}

start_deny_dockerd() {
  if curl -fsS --unix-socket "$DENY_SOCK" http://localhost/_ping >/dev/null 2>&1; then
    return 0
  fi
  echo "testbed: starting a second dockerd whose seccomp profile denies statx"
  mkdir -p "$TESTBED_DIR"
  rm -f "$TESTBED_DIR/docker-deny.pid"
  cp "$REPO_DIR/fixtures/seccomp/deny-statx.json" "$TESTBED_DIR/deny-statx.json"
  if ! ip link show br-wapftest >/dev/null 2>&1; then
    ip link add br-wapftest type bridge
    ip addr add 198.18.251.1/24 dev br-wapftest
    ip link set br-wapftest up
  fi
  setsid dockerd \
    --data-root /var/lib/wa-preflight-test/docker-deny \
    --exec-root "$TESTBED_DIR/exec-deny" \
    --pidfile "$TESTBED_DIR/docker-deny.pid" \
    -H "unix://$DENY_SOCK" \
    --bridge br-wapftest --iptables=false --ip-masq=false \
    --seccomp-profile "$TESTBED_DIR/deny-statx.json" \
    >"$TESTBED_DIR/docker-deny.log" 2>&1 < /dev/null &
  wait_for_socket "$DENY_SOCK" "$TESTBED_DIR/docker-deny.log"
}

need_packages
start_dockerd
start_deny_dockerd
"$REPO_DIR/scripts/testbed-db.sh"
