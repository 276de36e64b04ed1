#!/usr/bin/env bash
# Runs every check and test of zkstate against real ZooKeeper servers that the tests start
# themselves on free loopback ports. Installs ZooKeeper, and Chromium for the browser test of
# `zkstate serve`, first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-zookeeper.sh
source scripts/ensure-chromium.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
cargo test --workspace --locked

# The benchmark harness in its quick mode (every scenario, few iterations, prints only), so that
# it cannot rot. Full runs are made by hand: see BENCHMARKS.md.
cargo run --locked --quiet -p zkstate-bench -- --quick

# The fuzz targets (URL and settings parser, diff engine, payload decoder), bounded.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain provide them.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
for target in url diff payload; do
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- \
     -max_total_time="${ZKSTATE_FUZZ_SECONDS:-10}" -print_final_stats=1 2>&1 | tail -n 3)
done

# No ZooKeeper JVM started by the tests may survive them.
sleep 1
if pgrep -f 'zkstate\.testing' >/dev/null; then
  echo "zkstate: ZooKeeper servers started by the tests are still running:" >&2
  pgrep -af 'zkstate\.testing' >&2
  exit 1
fi
echo "no ZooKeeper server left running"
# Nor a browser or driver started by the browser test.
if pgrep -x chromedriver >/dev/null || pgrep -f 'chromium.*--headless' >/dev/null; then
  echo "zkstate: the browser test left chromedriver or Chromium running:" >&2
  pgrep -af 'chromedriver|chromium' >&2
  exit 1
fi
