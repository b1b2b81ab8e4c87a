// SPDX-License-Identifier: MIT
// `mmfree bench`: the options every bench path shares, and the CPU bench (bench_cpu.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <mmfree/core/types.hpp>

namespace mmfree_cli {

/// Options of `mmfree bench`.
struct BenchOptions {
  std::string shape = "1.3b";       ///< preset_config name: 370m, 1.3b, 2.7b (random weights)
  std::string model;                ///< checkpoint directory or packed .mmfree file (instead of shape)
  std::string backend = "simd";     ///< serial | simd
  std::string packing = "i2";       ///< i8 | i2 | tq1
  std::string simd_path = "best";   ///< SIMD kernels (backend simd)
  int threads = 1;
  mmfree::index_t prompt = 512;     ///< prefill tokens (pp)
  mmfree::index_t generate = 128;   ///< decode tokens (tg)
  int repeat = 3;                   ///< timed repetitions; medians are reported
  std::uint64_t seed = 1;           ///< random weights
  bool json = false;
};

/// \brief Builds a random-weight model of the shape in memory (or loads `model`), measures the
/// read bandwidth of a buffer as large as its packed weights, then prefill (pp) and decode (tg)
/// speed; prints a table or one JSON object.
void run_cpu_bench(const BenchOptions& o);

/// What `mmfree bench --backend kokkos` measures (cmd_bench.cpp fills it from the shared options).
struct KokkosBenchOptions {
  std::string shape = "370m";  ///< preset_config() name, or "" with --model
  std::string model;           ///< checkpoint directory instead of a random model of `shape`
  std::string packing = "i2";
  std::vector<mmfree::index_t> batches{1};  ///< sequences decoded together (each size measured in turn)
  mmfree::index_t prompt = 512;  ///< prompt tokens per sequence (pp)
  mmfree::index_t gen = 128;     ///< generated tokens per sequence (tg)
  mmfree::index_t chunk = 128;   ///< prefill chunk, tokens per sequence a pass (0: the whole prompt)
  int reps = 5;                  ///< repetitions; medians are reported
  bool json = false;
  bool explore = false;          ///< also time kernel-choice variants and a per-kernel profile (batch 1)
  bool gemv_chain = false;       ///< decode with the GEMV chain (PlanOptions::gemv_chain)
};

#if MMFREE_HAS_KOKKOS
/// bench_kokkos.cpp: decode/prefill speed, device memory and bandwidth on Kokkos' default space
/// (the model is built once, then each batch size is measured).
void bench_kokkos(const KokkosBenchOptions& o);
#endif

}  // namespace mmfree_cli
