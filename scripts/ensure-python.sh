#!/usr/bin/env bash
# Installs Debian's python3 when missing: scripts/import-cycles.py checks that imports flow one
# way. Sourced by scripts/test.sh; needs nothing running beforehand.
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
  echo "zkstate: python3 is not installed; installing Debian's python3 (for the import check)" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update
  $sudo_cmd apt-get install -y python3
fi
