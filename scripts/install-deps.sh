#!/usr/bin/env bash
# Installs what mmfree's build, tests and tools need on Debian (bookworm), only if missing.
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache libeigen3-dev libxsimd-dev catch2 libbenchmark-dev
      libtrilinos-kokkos-dev nlohmann-json3-dev libcli11-dev
      clang-14 libclang-rt-14-dev  # libFuzzer targets (scripts/fuzz.sh)
      sentencepiece bible-kjv)     # only scripts/train-kjv.sh (the built-in model's recipe)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
