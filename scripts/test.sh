#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
#   scripts/test.sh              release build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
# ccache: hits across checkouts in other directories (CI clones afresh)
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMMFREE_SANITIZE=ON \
        -DMMFREE_BUILD_BENCHMARKS=OFF -DMMFREE_INSTALL=OFF -DMMFREE_TEST_COMPILE_CHECKS=OFF -DCMAKE_CXX_FLAGS="-O1"
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs")
else
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$jobs"
  (cd build && ctest --output-on-failure -j"$jobs")
fi
