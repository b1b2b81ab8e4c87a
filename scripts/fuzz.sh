#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time from the committed seed
# corpora (tests/fuzz/corpus/<target>); new inputs go to build-fuzz/corpus/<target> (not committed).
#   scripts/fuzz.sh              every target, FUZZ_SECONDS (default 15) each
#   scripts/fuzz.sh tokenizer_json model_file
# A crash leaves the input in build-fuzz/ (crash-*) and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
CXX_FUZZ=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}
seconds=${FUZZ_SECONDS:-15}
targets=("$@")
((${#targets[@]})) || targets=(safetensors config checkpoint_index tokenizer_model tokenizer_json tokenizer_text model_file)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
      -DMMFREE_BUILD_FUZZERS=ON -DMMFREE_BUILD_BENCHMARKS=OFF -DMMFREE_BUILD_EXAMPLES=OFF -DMMFREE_INSTALL=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/fuzz_$t.log"
  if ! (cd build-fuzz && "./bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
          -print_final_stats=1 "corpus/$t" "../tests/fuzz/corpus/$t" >"fuzz_$t.log" 2>&1); then
    tail -n 60 "$log"
    echo "fuzz_$t FAILED: the input is in build-fuzz/ (crash-*, leak-*, timeout-*, oom-*)"
    exit 1
  fi
  echo "fuzz_$t: $(grep -m1 -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+') runs in ${seconds} s, clean"
done
echo "fuzz targets: all ${#targets[@]} ran clean"
