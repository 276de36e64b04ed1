#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver when missing: the browser test of `zkstate serve`
# drives a headless Chromium. Sourced by scripts/test.sh; needs nothing running beforehand.
set -euo pipefail

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "zkstate: Chromium is not installed; installing Debian's chromium and chromium-driver (for the browser test)" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update
  $sudo_cmd apt-get install -y chromium chromium-driver
fi
