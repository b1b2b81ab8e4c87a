// SPDX-License-Identifier: MIT
// Shared pieces of the mmfree command-line tool: policy dispatch from names, id parsing.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <mmfree/mmfree.hpp>

namespace mmfree_cli {

using mmfree::index_t;

/// Names accepted by --backend / --packing / --act.
#if MMFREE_HAS_KOKKOS
inline const std::vector<std::string> backend_names = {"serial", "kokkos"};
#else
inline const std::vector<std::string> backend_names = {"serial"};
#endif
inline const std::vector<std::string> packing_names = {"i8", "i2", "tq1"};
inline const std::vector<std::string> act_names = {"int8", "fq32"};

#if MMFREE_HAS_KOKKOS
/// True once start_kokkos() initialised Kokkos (then KokkosRuntime finalises it).
inline bool& kokkos_started() {
  static bool started = false;
  return started;
}
/// Initialises Kokkos on first use of --backend kokkos (KOKKOS_* environment variables apply).
inline void start_kokkos() {
  if (!Kokkos::is_initialized()) {
    Kokkos::initialize();
    kokkos_started() = true;
  }
}
/// Lives in main(): finalises Kokkos after every model and workspace of a command is gone.
struct KokkosRuntime {
  KokkosRuntime() = default;
  KokkosRuntime(const KokkosRuntime&) = delete;
  KokkosRuntime& operator=(const KokkosRuntime&) = delete;
  ~KokkosRuntime() {
    if (kokkos_started() && Kokkos::is_initialized()) Kokkos::finalize();
  }
};
#endif

/// \brief Calls f(mmfree::Policy<...>{}) for the policy named by three strings.
/// Only the combinations listed here are compiled into the tool.
template <class F>
void with_policy(std::string_view backend, std::string_view packing, std::string_view act, F&& f) {
  using namespace mmfree;
  auto with_act = [&]<class P, class B>(P, B) {
    if (act == "int8") return f(Policy<P, act::Int8, B>{});
    if (act == "fq32") return f(Policy<P, act::FakeQuant, B>{});
    throw Error("unknown activation policy '" + std::string(act) + "' (int8, fq32)");
  };
  auto with_packing = [&]<class B>(B) {
    if (packing == "i8") return with_act(packing::I8{}, B{});
    if (packing == "i2") return with_act(packing::I2{}, B{});
    if (packing == "tq1") return with_act(packing::TQ1{}, B{});
    throw Error("unknown packing '" + std::string(packing) + "' (i8, i2, tq1)");
  };
  if (backend == "serial") return with_packing(backend::Serial{});
#if MMFREE_HAS_KOKKOS
  if (backend == "kokkos") {
    // backend::Kokkos on Kokkos' default execution space (the GPU in a CUDA/HIP build): int8 only
    if (act != "int8")
      throw Error("backend kokkos implements --act int8 only (got '" + std::string(act) + "')");
    start_kokkos();
    using KB = backend::Kokkos<>;
    if (packing == "i8") return f(Policy<packing::I8, act::Int8, KB>{});
    if (packing == "i2") return f(Policy<packing::I2, act::Int8, KB>{});
    if (packing == "tq1") return f(Policy<packing::TQ1, act::Int8, KB>{});
    throw Error("unknown packing '" + std::string(packing) + "' (i8, i2, tq1)");
  }
  throw Error("unknown backend '" + std::string(backend) + "' (serial, kokkos)");
#else
  throw Error("unknown backend '" + std::string(backend) + "' (serial)");
#endif
}

/// Loads a model from a checkpoint directory, packed with P.
template <class P>
mmfree::HostWeights load_weights(const std::filesystem::path& path) {
  return mmfree::io::load_checkpoint<P>(path);
}

/// \brief Parses "1,2,3;4,5,6" into row-major ids and the number of rows (all rows equal length).
inline std::vector<std::int32_t> parse_ids(const std::string& text, index_t& rows) {
  std::vector<std::int32_t> ids;
  rows = 0;
  index_t cols = -1;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    const std::string row = text.substr(start, end - start);
    index_t n = 0;
    std::size_t p = 0;
    while (p <= row.size()) {
      const std::size_t q = std::min(row.find(',', p), row.size());
      std::string tok = row.substr(p, q - p);
      tok.erase(0, tok.find_first_not_of(" \t"));
      tok.erase(tok.find_last_not_of(" \t") + 1);
      if (tok.empty()) throw mmfree::Error("--ids: empty token in row " + std::to_string(rows + 1) + " ('" + row + "')");
      std::size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(tok, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != tok.size()) throw mmfree::Error("--ids: '" + tok + "' is not an integer token id");
      if (v < INT32_MIN || v > INT32_MAX) throw mmfree::Error("--ids: token id " + tok + " is out of range");
      ids.push_back(std::int32_t(v));
      ++n;
      p = q + 1;
    }
    if (cols >= 0 && n != cols)
      throw mmfree::Error("--ids: row " + std::to_string(rows + 1) + " has " + std::to_string(n) +
                          " ids, the first row has " + std::to_string(cols) + " (rows must have equal length)");
    cols = n;
    ++rows;
    start = end + 1;
  }
  return ids;
}

void register_info(CLI::App& app);
void register_logits(CLI::App& app);
void register_bench(CLI::App& app);

/// What `mmfree bench` measures (cmd_bench.cpp parses it; each backend's bench runs it).
struct BenchOptions {
  std::string backend = "kokkos";
  std::string shape = "370m";  ///< preset_config() name, or "" with --model
  std::string model;           ///< checkpoint directory instead of a random model of `shape`
  std::string packing = "i2";
  std::vector<index_t> batches{1};  ///< sequences decoded together (each size measured in turn)
  index_t prompt = 512;        ///< prompt tokens per sequence (pp)
  index_t gen = 128;           ///< generated tokens per sequence (tg)
  index_t chunk = 128;         ///< prefill chunk (workspace rows per sequence)
  int reps = 5;                ///< repetitions; medians are reported
  bool json = false;
  bool explore = false;        ///< also time kernel-choice variants and a per-kernel profile (batch 1)
};
#if MMFREE_HAS_KOKKOS
/// bench_kokkos.cpp: decode/prefill speed, device memory and bandwidth on Kokkos' default space
/// (the model is built once, then each batch size is measured).
void bench_kokkos(const BenchOptions& o);
#endif

}  // namespace mmfree_cli
