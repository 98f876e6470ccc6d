#!/usr/bin/env bash
# Builds what users install: the static x86_64-unknown-linux-musl binary (a glibc build needs
# glibc >= 2.34 and would not start on CentOS 7, Ubuntu 18.04/20.04 or RHEL 8, the very hosts
# it must judge), man pages, shell completions, and the .deb and .rpm around them.
# Output: target/packages/. Idempotent; run as root on Debian 12 (installs musl-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
TOOLS="$PWD/target/tools"
ASSETS=target/package-assets
OUT=target/packages

log() { echo "package: $*" >&2; }

# ring (rustls), zstd and SQLite build C code: the static build needs musl-gcc.
if ! command -v musl-gcc >/dev/null; then
    log "installing musl-tools"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q musl-tools >/dev/null
fi
# Outputs are read whole, then searched: `cmd | grep -q` under pipefail fails when grep
# stops reading first (SIGPIPE).
if ! grep -qx "$TARGET" <<<"$(rustup target list --installed)"; then
    log "adding the $TARGET target"
    rustup target add "$TARGET"
fi
# Packaging tools, installed into the repo's own target/ (nothing cached outside the repo).
# They run for a second, so they are built unoptimised and without debug info. cargo-deb keeps
# its default xz (liblzma, C, compiled optimised): with an unoptimised Rust gzip it took
# minutes to compress the binary.
export CARGO_PROFILE_DEV_DEBUG=0
[ -x "$TOOLS/bin/cargo-deb" ] || { log "installing cargo-deb"; cargo install --debug --locked --quiet --root "$TOOLS" cargo-deb --version '^3.8'; }
[ -x "$TOOLS/bin/cargo-generate-rpm" ] || { log "installing cargo-generate-rpm"; cargo install --debug --locked --quiet --root "$TOOLS" cargo-generate-rpm --version '^0.21'; }
unset CARGO_PROFILE_DEV_DEBUG

log "building the static binary (profile dist: release, smaller)"
# Its own target folder, so this build can run beside `cargo test` (scripts/test.sh runs it
# at the lowest CPU priority while the tests wait on dockerd and the databases) without
# either waiting for the other's lock. The binary is then put where cargo-deb and
# cargo-generate-rpm look for it.
CARGO_TARGET_DIR="$PWD/target/dist-build" cargo build --profile dist --locked --target "$TARGET"
install -D -m 755 "target/dist-build/$TARGET/dist/preflight" "target/$TARGET/dist/preflight"
BIN="target/$TARGET/dist/preflight"
if ! grep -q 'statically linked\|static-pie linked' <<<"$(file "$BIN")"; then
    log "$BIN is not static: $(file "$BIN")"
    exit 1
fi

log "man pages and completions"
rm -rf "$ASSETS"
mkdir -p "$ASSETS/man" "$ASSETS/completions"
"$BIN" man --dir "$ASSETS/man"
gzip -9n "$ASSETS"/man/*.1
"$BIN" completions bash > "$ASSETS/completions/preflight.bash"
"$BIN" completions zsh > "$ASSETS/completions/_preflight"
"$BIN" completions fish > "$ASSETS/completions/preflight.fish"

rm -rf "$OUT"
mkdir -p "$OUT"
log "building the .deb"
"$TOOLS/bin/cargo-deb" --no-build --no-strip --profile dist --target "$TARGET" --output "$OUT/" >/dev/null
log "building the .rpm"
"$TOOLS/bin/cargo-generate-rpm" --profile dist --target "$TARGET" --output "$OUT/" >/dev/null
ls -l "$OUT" >&2
