#!/usr/bin/env bash
# Support bundle benchmark: wall time and peak RSS of `preflight bundle` (release build) for an
# imitation coreapp whose json-file container log holds 1 GiB of varied lines spread over the
# last 6 hours (stdout and stderr, levels, modules, JSON payloads, escapes, non-ASCII text, and
# now and then a stack dump longer than 16 KiB, stored as partial entries as dockerd stores
# them). Four runs in one go: default caps (--since 3h, 25 MiB per file) and --since 1h, each
# with the log read from its files (the default) and through the Engine API
# (--container-logs api); then the API/file ratios. Needs the test bed's dockerd
# (scripts/testbed.sh) and root (the log is written into dockerd's data root). Prints
# figures; asserts nothing.
#
# BENCH_LOG_BYTES changes the log size (default 1 GiB).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release --locked -q
bin=${CARGO_TARGET_DIR:-target}/release/preflight
size=${BENCH_LOG_BYTES:-1073741824}
export DOCKER_HOST=unix:///var/run/docker.sock
work=$(mktemp -d)
trap 'docker rm -f wapf-bench >/dev/null 2>&1 || true; docker rmi docker.whatsapp.biz/coreapp:bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/img/bin" && cp /bin/busybox "$work/img/bin/"
tar -C "$work/img" -c . | docker import --change 'LABEL wa-preflight.test=1' - docker.whatsapp.biz/coreapp:bench >/dev/null
docker rm -f wapf-bench >/dev/null 2>&1 || true
# The container writes nothing itself: its log is written below, in dockerd's format.
docker run -d --name wapf-bench --label wa-preflight.test=1 docker.whatsapp.biz/coreapp:bench \
  /bin/busybox sleep 3600 >/dev/null
log=$(docker inspect -f '{{.LogPath}}' wapf-bench)
python3 - "$log" "$size" <<'EOF'
import json, random, sys, time
path, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(16)
span = 6 * 3600.0
start = time.time() - span
levels = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]
modules = ["wa.core.router", "wa.db.pool", "wa.media.upload", "wa.webhook", "wa.crypto.signal",
           "wa.contacts", "wa.messages.outbox", "wa.http.api", "wa.ha.coordinator", "wa.stats"]
words = ("message delivered queued retry backoff connection pool latency webhook media upload "
         "download checksum session prekey rotate contact sync batch shard lease heartbeat "
         "timeout accepted rejected template notification ack read receipt encrypted").split()
texts = ["Überprüfung abgeschlossen", "réessai programmé", "消息已送达", "تم التسليم",
         "доставлено", "<html>&amp;</html>", 'quoted "value" with \\ backslash', "tab\tseparated"]

def escape(s):
    # dockerd's encoder: JSON with <, >, & and U+2028/2029 escaped, other text as UTF-8.
    out = json.dumps(s, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
               .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))

def stamp(t):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    frac = ("%.9f" % (t % 1))[2:].rstrip("0")
    return s + ("." + frac if frac else "") + "Z"

def message():
    r = rnd.random()
    lvl, mod = rnd.choice(levels), rnd.choice(modules)
    if r < 0.55:
        body = " ".join(rnd.choice(words) for _ in range(rnd.randint(3, 18)))
    elif r < 0.8:
        body = json.dumps({"id": "%016x" % rnd.getrandbits(64), "status": rnd.choice(words),
                           "ms": rnd.randint(1, 9000), "attempt": rnd.randint(1, 5)})
    elif r < 0.95:
        body = "%s %s id=%d" % (rnd.choice(texts), rnd.choice(words), rnd.getrandbits(32))
    else:
        body = "request path=/v1/%s status=%d bytes=%d" % (rnd.choice(words), rnd.choice([200, 201, 400, 404, 500]), rnd.getrandbits(20))
    return "%s [%s] %s: %s\n" % (lvl, mod, rnd.choice(["main", "worker-%d" % rnd.randint(1, 32)]), body)

written, lines, chunk = 0, 0, []
with open(path, "w", encoding="utf-8") as f:
    while written < size:
        t = start + span * written / size
        if rnd.random() < 0.00005:
            # A stack dump longer than 16 KiB: partial entries, only the last with "\n".
            dump = "ERROR [wa.core] crash: " + " | ".join("at frame_%d(module_%d.erl:%d)" % (i, i % 40, i * 7) for i in range(1200)) + "\n"
            pieces = [dump[i:i + 16384] for i in range(0, len(dump), 16384)]
            for p in pieces:
                line = '{"log":%s,"stream":"stderr","time":"%s"}\n' % (escape(p), stamp(t))
                chunk.append(line); written += len(line.encode()); t += 1e-6
        else:
            stream = "stderr" if rnd.random() < 0.1 else "stdout"
            line = '{"log":%s,"stream":"%s","time":"%s"}\n' % (escape(message()), stream, stamp(t))
            chunk.append(line); written += len(line.encode())
        lines += 1
        if len(chunk) >= 20000:
            f.write("".join(chunk)); chunk = []
    f.write("".join(chunk))
print("generated %d MiB, %d entries, spanning %.1f h" % (written >> 20, lines, span / 3600))
EOF
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall rss
for window in default since-1h; do
  for via in auto api; do
    args=(bundle --no-statx-probe --force -o "$work/bundle-$window-$via.tar.gz")
    [ "$window" = since-1h ] && args+=(--since 1h)
    [ "$via" = api ] && args+=(--container-logs api)
    /usr/bin/time -v "$bin" "${args[@]}" 2> "$work/time.txt" >/dev/null || true
    w=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}')
    r=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$work/time.txt")
    secs=$(echo "$w" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    wall[$window-$via]=$secs; rss[$window-$via]=$r
    printf '%-9s %-5s wall %7.2f s  CPU %6.2f s  peak RSS %6.1f MiB  bundle %s\n' "$window" \
      "$([ "$via" = auto ] && echo file || echo api)" "$secs" "$cpu" "$(echo "$r" | awk '{print $1 / 1024}')" \
      "$(du -h "$work/bundle-$window-$via.tar.gz" | cut -f1)"
  done
  awk -v a="${wall[$window-api]}" -v f="${wall[$window-auto]}" -v ra="${rss[$window-api]}" -v rf="${rss[$window-auto]}" -v n="$window" \
    'BEGIN { printf "%-9s API/file: wall %.1fx, peak RSS %.2fx\n", n, a / f, ra / rf }'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
