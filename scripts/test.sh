#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
#   scripts/test.sh              release build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh --tsan       ThreadSanitizer build in build-tsan/ of the tests that run threads
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
elif [ "${1:-}" = "--tsan" ]; then
  # the thread pools (simd::ThreadPool, train::ThreadPool) and what runs on them
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMMFREE_SANITIZE_THREAD=ON \
        -DMMFREE_BUILD_BENCHMARKS=OFF -DMMFREE_INSTALL=OFF -DMMFREE_TEST_COMPILE_CHECKS=OFF -DCMAKE_CXX_FLAGS="-O1"
  # (those this configuration has: test_train needs Eigen, test_simd the SIMD library)
  available=$(cmake --build build-tsan --target help)
  targets=()
  for t in test_simd test_train; do
    if grep -q "^$t:" <<<"$available"; then targets+=("$t"); fi
  done
  if [ ${#targets[@]} -eq 0 ]; then echo "no threaded test in this configuration"; exit 0; fi
  cmake --build build-tsan -j"$jobs" --target "${targets[@]}"
  # TSan needs the address layout it expects: without randomisation (kernels with many mmap
  # random bits otherwise stop it with "unexpected memory mapping"). A hang fails after 15 minutes.
  for t in "${targets[@]}"; do
    echo "== $t (ThreadSanitizer)"
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" timeout 900 setarch "$(uname -m)" -R "build-tsan/bin/$t"
  done
else
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$jobs"
  (cd build && ctest --output-on-failure -j"$jobs")
fi
