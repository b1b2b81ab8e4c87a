#!/usr/bin/env bash
# The README's main command: installs what is missing, builds the mmfree tool (Release) and
# generates text with the built-in model (models/kjv, trained by mmfree on the King James Bible).
#   scripts/run.sh                         -> mmfree generate -p "And God said" -n 80
#   scripts/run.sh generate -p "In the beginning" -n 200 --temp 0.7    (any mmfree command line)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1  # ccache hits across checkouts
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target mmfree_cli
if [ $# -eq 0 ]; then set -- generate -p "And God said" -n 80; fi
exec build/bin/mmfree "$@"
