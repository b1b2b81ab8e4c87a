// SPDX-License-Identifier: MIT
// `mmfree bench`: the options every bench path shares, and the CPU bench (bench_cpu.cpp).
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace mmfree_cli
