#!/usr/bin/env bash
# Installs Apache ZooKeeper (Debian's package, which brings a Java runtime) when it is missing.
# Sourced by the README's two commands; needs nothing running beforehand.
set -euo pipefail

zookeeper_present() {
  if [ -n "${ZOOKEEPER_HOME:-}" ]; then
    ls "$ZOOKEEPER_HOME"/lib/zookeeper-*.jar "$ZOOKEEPER_HOME"/zookeeper-*.jar >/dev/null 2>&1 && return 0
  fi
  [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1
}

if ! zookeeper_present; then
  echo "zkstate: ZooKeeper is not installed; installing Debian's zookeeper package" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update
  $sudo_cmd apt-get install -y zookeeper
fi
