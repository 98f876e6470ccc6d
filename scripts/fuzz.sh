#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for a bounded time: SECONDS each (default 20).
# The committed seeds (fuzz/seeds/<target>/) are read; what the run finds is written to a
# scratch corpus under the target folder, so the tree stays clean. A crash fails the script
# and leaves its input in fuzz/artifacts/<target>/.
#
# Needs the nightly toolchain and cargo-fuzz (installed if missing). Targets are built without
# a sanitizer (the parsers are safe Rust: what matters is panics, overflows and hangs) and
# with debug assertions, so an arithmetic overflow is a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"
# A dev build (no optimisation, no debug info: fuzz/Cargo.toml) takes a third of the CPU time
# of an optimised one (3.7 against 10.7 CPU minutes here, every dependency instrumented);
# the parsers still run thousands to millions of inputs in 20 s.
flags=(--dev --sanitizer none --target-dir "$target_dir")

echo "== fuzz: building the targets"
cargo +nightly fuzz build "${flags[@]}"
for t in $(cargo +nightly fuzz list); do
  echo "== fuzz: $t for ${seconds}s"
  corpus="$target_dir/fuzz-corpus/$t"
  mkdir -p "$corpus"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a runaway allocation.
  log="$target_dir/fuzz-$t.log"
  if ! cargo +nightly fuzz run "${flags[@]}" "$t" "$corpus" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $t failed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^(INFO: seed corpus|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
done
