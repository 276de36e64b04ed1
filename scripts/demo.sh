#!/usr/bin/env bash
# The main job: the seed's story end to end on a private ZooKeeper (installed first when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-zookeeper.sh
cargo build --quiet --locked -p zkstate-cli -p zkstate-examples --bins
exec target/debug/demo
