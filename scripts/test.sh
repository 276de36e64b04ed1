#!/usr/bin/env bash
# Runs every check and test of zkstate against real ZooKeeper servers that the tests start
# themselves on free loopback ports. Installs ZooKeeper, Chromium for the browser test of
# `zkstate serve`, the rustfmt and clippy components, a C++ compiler for the fuzz targets and
# python3 for the import check, first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-zookeeper.sh
source scripts/ensure-chromium.sh
source scripts/ensure-toolchain.sh
source scripts/ensure-python.sh

# How long each phase took, on stderr, so that the CI budget (20 minutes on 2 cores) is visible.
phase_started=$SECONDS
phase() {
  echo "zkstate: $1 took $((SECONDS - phase_started)) s (total $SECONDS s)" >&2
  phase_started=$SECONDS
}
phase "installing what was missing"

cargo fmt --all -- --check
# Imports flow one way: no cycle between the files of any crate (see the script's doc).
for src in crates/*/src examples/src; do
  python3 scripts/import-cycles.py "$src"
done
cargo clippy --workspace --all-targets --locked -- -D warnings
phase "fmt, import cycles, clippy"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
phase "doc"
cargo test --workspace --locked
phase "tests"

# The benchmark harness in its quick mode (every scenario, few iterations, prints only), so that
# it cannot rot. Full runs are made by hand: see BENCHMARKS.md.
cargo run --locked --quiet -p zkstate-bench -- --quick
phase "bench --quick"

# The fuzz targets (URL and settings parser, diff engine, payload decoder), bounded.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain provide them.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
phase "cargo-fuzz installed"
for target in url diff payload; do
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- \
     -max_total_time="${ZKSTATE_FUZZ_SECONDS:-10}" -print_final_stats=1 2>&1 | tail -n 3)
done
phase "fuzz"

# No ZooKeeper JVM started by the tests may survive them.
sleep 1
if pgrep -f 'zkstate\.testing' >/dev/null; then
  echo "zkstate: ZooKeeper servers started by the tests are still running:" >&2
  pgrep -af 'zkstate\.testing' >&2
  exit 1
fi
echo "no ZooKeeper server left running"
# Nor a browser or driver started by the browser test: they carry its marker on their command
# line (Chromium's --user-data-dir, chromedriver's --log-path); a browser the user runs is not
# ours to report.
if pgrep -f 'zkstate-browser-test-' >/dev/null; then
  echo "zkstate: the browser test left chromedriver or Chromium running:" >&2
  pgrep -af 'zkstate-browser-test-' >&2
  exit 1
fi
echo "no browser of the tests left running"
