#!/usr/bin/env bash
# The GPU checks of docs/gpu.md in one go, for binaries built against a GPU Kokkos:
#   scripts/gpu-check.sh BIN_DIR OUT_DIR [SHAPE...]
# BIN_DIR holds mmfree and test_kokkos (and optionally gpu_graph_floor, built from
# bench/gpu_graph_floor.cu). Runs test_kokkos (also its [large] cases), compares
# `mmfree logits --backend kokkos` with `--backend serial` bit for bit on the golden tiny model
# for every packing, both modes; then writes OUT_DIR/bench_<shape>.json (batch 1 and 16) for
# 370m, 1.3b and 2.7b, OUT_DIR/explore_<shape>.json for each SHAPE given (kernel variants and a
# per-kernel profile) and OUT_DIR/floor.txt. Exits non-zero if a test fails or logits differ.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then sed -n 2,9p "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
B=$1 OUT=$2; shift 2
mkdir -p "$OUT"
fail=0
date -u
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
"$B/test_kokkos" | tail -2 || fail=1
"$B/test_kokkos" "[large]" | tail -2 || fail=1
model=tests/data/golden/tiny-a/model tmp=$(mktemp -d)
for pk in i2 tq1 i8; do
  for mode in prefill step; do
    for be in serial kokkos; do
      "$B/mmfree" logits -m $model --ids "1,5,9,200,7;3,4,5,6,8" --mode $mode --packing $pk --backend $be \
        -o "$tmp/$be.safetensors" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail=1; }
    done
    if cmp -s "$tmp/serial.safetensors" "$tmp/kokkos.safetensors"; then echo "logits $pk $mode: identical"
    else echo "logits $pk $mode: DIFFER"; fail=1; fi
  done
done
rm -rf "$tmp"
[ -x "$B/gpu_graph_floor" ] && "$B/gpu_graph_floor" > "$OUT/floor.txt" 2>&1
for s in 370m 1.3b 2.7b; do
  "$B/mmfree" bench --backend kokkos --shape $s --batch 1,16 --json > "$OUT/bench_$s.json" || fail=1
done
for s in "$@"; do
  "$B/mmfree" bench --backend kokkos --shape "$s" --batch 1 --explore --json > "$OUT/explore_$s.json" || fail=1
done
date -u
exit $fail
