#!/usr/bin/env bash
# Runs every check and test of zkstate against real ZooKeeper servers that the tests start
# themselves on free loopback ports. Installs ZooKeeper first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-zookeeper.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
cargo test --workspace --locked

# No ZooKeeper JVM started by the tests may survive them.
sleep 1
if pgrep -f 'zkstate\.testing' >/dev/null; then
  echo "zkstate: ZooKeeper servers started by the tests are still running:" >&2
  pgrep -af 'zkstate\.testing' >&2
  exit 1
fi
echo "no ZooKeeper server left running"
