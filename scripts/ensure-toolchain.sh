#!/usr/bin/env bash
# Installs what the checks of scripts/test.sh need beyond a minimal Rust: the rustfmt and clippy
# components (`rustup component add`, when `cargo fmt` or `cargo clippy` does not run), and a C++
# compiler for the fuzz targets, whose libFuzzer is C++ (Debian's g++, when neither c++ nor g++
# is there). Sourced by scripts/test.sh; installs only what is missing.
set -euo pipefail

missing_components=()
cargo fmt --version >/dev/null 2>&1 || missing_components+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || missing_components+=(clippy)
if [ "${#missing_components[@]}" -gt 0 ]; then
  if ! command -v rustup >/dev/null 2>&1; then
    echo "zkstate: cargo is missing ${missing_components[*]} and there is no rustup to add them; install them with your Rust toolchain" >&2
    exit 1
  fi
  echo "zkstate: adding the Rust components ${missing_components[*]} (rustup component add)" >&2
  rustup component add "${missing_components[@]}"
fi

if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
  echo "zkstate: no C++ compiler (the fuzz targets build libFuzzer); installing Debian's g++" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update
  $sudo_cmd apt-get install -y g++
fi
