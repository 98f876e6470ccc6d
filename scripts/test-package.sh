#!/usr/bin/env bash
# Tests the packages for real on this machine (root, Debian 12): the static binary starts with
# no shared library and gathers the same facts as the development build; the .deb installs,
# `preflight check` runs from it with its config, units and man pages in place, the units pass
# `systemd-analyze verify`, and it removes cleanly; the .rpm declares no libc dependency; the
# Prometheus rules pass promtool. Run by scripts/test.sh after scripts/package.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
BIN="target/$TARGET/dist/preflight"
DEV=target/debug/preflight
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
ok() { echo "test-package: ok: $*" >&2; }

[ -x "$BIN" ] || fail "$BIN missing: run scripts/package.sh"
[ -x "$DEV" ] || cargo build --locked --quiet

# 1. Static: no interpreter, no shared libraries.
ldd_out=$(ldd "$BIN" 2>&1 || true)
grep -q 'not a dynamic executable\|statically linked' <<<"$ldd_out" || fail "ldd: $ldd_out"
file_out=$(file "$BIN")
grep -q 'statically linked\|static-pie linked' <<<"$file_out" || fail "file: $file_out"
ok "static binary ($ldd_out)"

# 2. The same facts from the musl build as from the glibc development build (values that are
#    measurements or change by the second are left out).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in "$BIN" "$DEV"; do
    WA_PREFLIGHT_CONFIG=/dev/null "$b" facts --no-statx-probe > "$tmp/$(basename "$(dirname "$(dirname "$b")")").json"
done
python3 - "$tmp" <<'PY'
import json, sys, glob
a, b = [json.load(open(p)) for p in sorted(glob.glob(sys.argv[1] + "/*.json"))]
def strip(f):
    h = f["host"]
    h["memory"].pop("available_bytes", None)
    h.pop("clock", None)   # error estimates move every second
    for fs in h["storage"]:
        fs.pop("free_bytes", None); fs.pop("latency", None)
    d = f.get("docker") or {}
    if isinstance(d, dict) and "engine" in d:
        d.pop("statx_probe", None)
    for dns in ((f.get("network") or {}).get("whatsapp") or {}).get("dns", []):
        dns.pop("elapsed_us", None)
    for c in ((f.get("network") or {}).get("whatsapp") or {}).get("checks", []):
        c.pop("connect_us", None)
    db = f.get("database") or {}
    return {"host": h, "docker": d, "database_source": db.get("source"), "client_url": ((f.get("client") or {}).get("api") or {}).get("url")}
sa, sb = strip(a), strip(b)
for key in sa:
    if sa[key] != sb[key]:
        print(json.dumps(sa[key], indent=1, sort_keys=True)[:3000])
        print(json.dumps(sb[key], indent=1, sort_keys=True)[:3000])
        sys.exit(f"facts differ in {key}")
PY
ok "musl and glibc builds gather the same facts"

# 3. The .deb: install, run, verify units, remove.
deb=$(ls target/packages/*.deb)
deb_depends=$(dpkg-deb -f "$deb" Depends) || fail "dpkg-deb cannot read $deb"
[ -z "$deb_depends" ] || fail "the .deb depends on: $deb_depends"
dpkg -r wa-preflight >/dev/null 2>&1 || true
dpkg -i "$deb" >/dev/null
[ "$(command -v preflight)" = /usr/bin/preflight ] || fail "preflight not on PATH after dpkg -i"
/usr/bin/preflight --version
set +e
(cd / && /usr/bin/preflight check --no-statx-probe --format json > "$tmp/report.json")
rc=$?
set -e
case $rc in 0|3|4) ;; *) fail "preflight check from the package exited $rc" ;; esac
python3 -c "import json,sys; r=json.load(open('$tmp/report.json')); assert r['schema_version']==2 and any(x['id']=='host.kernel' for x in r['results'])" \
    || fail "the installed check wrote no report"
ok "installed preflight check exited $rc with a report"
for f in /etc/wa-preflight/config.yaml /usr/share/wa-preflight/rules/onprem.yaml \
         /usr/share/man/man1/preflight.1.gz /usr/share/man/man1/preflight-daemon.1.gz \
         /usr/share/bash-completion/completions/preflight /usr/share/zsh/vendor-completions/_preflight \
         /lib/systemd/system/wa-preflight.service /lib/systemd/system/wa-preflight.timer \
         /lib/systemd/system/wa-preflightd.service /var/lib/wa-preflight; do
    [ -e "$f" ] || fail "$f missing after install"
done
man_page=$(zcat /usr/share/man/man1/preflight.1.gz)
grep -q '^\.TH' <<<"$man_page" || fail "man page is not roff"
ok "config, rules, man pages, completions, units installed"
if command -v systemd-analyze >/dev/null; then
    # No systemd as PID 1 here: verify in offline mode against the installed binary.
    out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
        /lib/systemd/system/wa-preflight.service /lib/systemd/system/wa-preflight.timer \
        /lib/systemd/system/wa-preflightd.service 2>&1 | grep -v 'docker.service' || true)
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
    for u in wa-preflight.service wa-preflightd.service; do
        score=$(systemd-analyze security --offline=true --no-pager "/lib/systemd/system/$u" 2>/dev/null | tail -1)
        echo "test-package: $u: $score" >&2
    done
    ok "systemd-analyze verify"
fi
dpkg -r wa-preflight >/dev/null
[ ! -e /usr/bin/preflight ] || fail "/usr/bin/preflight left after dpkg -r"
[ -e /etc/wa-preflight/config.yaml ] || fail "dpkg -r removed the conffile (only purge may)"
dpkg -P wa-preflight >/dev/null
[ ! -e /etc/wa-preflight/config.yaml ] || fail "config left after purge"
ok ".deb removed and purged"

# 4. The .rpm: contents and requirements, read with rpm.
rpmf=$(ls target/packages/*.rpm)
if command -v rpm >/dev/null; then
    # Read whole, then searched: `cmd | grep -q` under pipefail fails when grep stops reading
    # before cmd has written everything (SIGPIPE), as it once did here.
    rpm_files=$(rpm -qpl "$rpmf") || fail "rpm -qpl $rpmf failed"
    grep -qx /usr/bin/preflight <<<"$rpm_files" || fail "rpm lacks /usr/bin/preflight: $rpm_files"
    reqs=$(rpm -qpR "$rpmf" 2>/dev/null | grep -v '^rpmlib(' || true)
    grep -qi 'libc\|ld-linux' <<<"$reqs" && fail "rpm requires: $reqs"
    ok "rpm: /usr/bin/preflight, no libc requirement (${reqs:-none})"
fi

# 5. Prometheus rules and example config.
if command -v promtool >/dev/null; then
    (cd packaging/prometheus && promtool check rules alerts.yml >/dev/null && promtool check config prometheus.yml >/dev/null && promtool test rules alerts_test.yml >/dev/null) \
        || fail "promtool"
    ok "promtool check rules / config / test rules"
fi
echo "test-package: all passed" >&2
