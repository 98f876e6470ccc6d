#!/usr/bin/env bash
# Support bundle benchmark: wall time and peak RSS of `preflight bundle` (release build) with
# an imitation coreapp whose container log holds 100 MiB, then 1 GiB. Needs the test bed's
# dockerd (scripts/testbed.sh). Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release --locked -q
export DOCKER_HOST=unix:///var/run/docker.sock
work=$(mktemp -d)
trap 'docker rm -f wapf-bench >/dev/null 2>&1 || true; docker rmi docker.whatsapp.biz/coreapp:bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/img/bin" && cp /bin/busybox "$work/img/bin/"
tar -C "$work/img" -c . | docker import --change 'LABEL wa-preflight.test=1' - docker.whatsapp.biz/coreapp:bench >/dev/null
for size in 104857600 1073741824; do
  docker rm -f wapf-bench >/dev/null 2>&1 || true
  docker run -d --name wapf-bench --label wa-preflight.test=1 docker.whatsapp.biz/coreapp:bench \
    /bin/busybox sh -c "yes 'ordinary coreapp log line, nothing secret in it at all' | head -c $size; echo END-OF-BENCH-LOG; exec sleep 3600" >/dev/null
  until docker logs --tail 1 wapf-bench 2>&1 | grep -q END-OF-BENCH-LOG; do sleep 2; done
  /usr/bin/time -v ./target/release/preflight bundle --no-statx-probe --since 24h --force \
    -o "$work/bundle.tar.gz" 2> "$work/time.txt" >/dev/null || true
  elapsed=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
  echo "bundle with $((size / 1048576)) MiB of container logs: wall $elapsed, peak RSS $((rss / 1024)) MiB, bundle $(du -h "$work/bundle.tar.gz" | cut -f1)"
done
