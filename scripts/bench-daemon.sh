#!/usr/bin/env bash
# Daemon footprint at steady state: runs `preflight daemon` (the static dist build, as
# shipped) with every group due every 10 s for DURATION seconds (default 180) and samples its
# RSS and CPU time once a second. Prints the median and peak RSS, the CPU used per run and the
# CPU share between runs. Target: RSS <= 15 MiB, CPU near zero between runs.
# Usage: scripts/bench-daemon.sh [DURATION] [extra daemon flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-180}
shift || true
BIN=target/x86_64-unknown-linux-musl/dist/preflight
[ -x "$BIN" ] || cargo build --profile dist --locked --target x86_64-unknown-linux-musl
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
WA_PREFLIGHT_CONFIG=/dev/null "$BIN" daemon --listen 127.0.0.1:0 --interval 10 \
    --history "$dir/history.db" "$@" 2> "$dir/log" &
pid=$!
hz=$(getconf CLK_TCK)
for _ in $(seq 100); do grep -q "serving on" "$dir/log" && break; sleep 0.1; done
addr=$(grep -o 'serving on http://[^ ]*' "$dir/log" | sed 's|serving on http://||')
# Let the first run (statx probe image import, DB pools) settle before measuring.
sleep 12
: > "$dir/samples"
for _ in $(seq "$DURATION"); do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    run=$(curl -s "http://$addr/metrics" | awk '$1 == "wa_preflight_run_id" {print $2}')
    echo "$(date +%s.%N) $rss $ticks ${run:-0}" >> "$dir/samples"
    sleep 1
done
python3 - "$dir/samples" "$hz" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
hz = float(sys.argv[2])
t = [float(r[0]) for r in rows]; rss = [int(r[1]) for r in rows]
ticks = [int(r[2]) for r in rows]; run = [float(r[3]) for r in rows]
runs = run[-1] - run[0]
cpu_s = (ticks[-1] - ticks[0]) / hz
wall = t[-1] - t[0]
# Seconds in which no run completed: CPU spent between runs (includes serving /metrics).
idle = [(ticks[i+1] - ticks[i]) / hz / (t[i+1] - t[i]) for i in range(len(rows) - 1) if run[i+1] == run[i] and (i == 0 or run[i] == run[i-1])]
print(f"samples: {len(rows)} over {wall:.0f} s, runs completed: {runs:.0f}")
print(f"RSS: median {statistics.median(rss)/1024:.1f} MiB, max {max(rss)/1024:.1f} MiB")
print(f"CPU: {100*cpu_s/wall:.2f}% of one core on average, {1000*cpu_s/max(runs,1):.0f} ms per run")
if idle:
    print(f"CPU between runs: median {100*statistics.median(idle):.2f}%, mean {100*statistics.mean(idle):.2f}% of one core ({len(idle)} idle seconds)")
PY
