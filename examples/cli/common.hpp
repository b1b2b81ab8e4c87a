// SPDX-License-Identifier: MIT
// Shared pieces of the mmfree command-line tool: policy dispatch from names, id parsing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <mmfree/mmfree.hpp>

namespace mmfree_cli {

using mmfree::index_t;

/// Bytes of every ternary matrix of `c` packed with P: what a decode step reads once (the lm_head
/// included; the embedding row is a copy of H values). `info`, and both benches' floors, use it.
template <class P>
index_t packed_ternary_bytes(const mmfree::ModelConfig& c) {
  using mmfree::packed_row_bytes;
  const index_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  return c.num_layers * (4 * H * packed_row_bytes<P>(H) + 2 * I * packed_row_bytes<P>(H) + H * packed_row_bytes<P>(I)) +
         V * packed_row_bytes<P>(H);
}

/// Names accepted by --backend / --packing / --act.
inline const std::vector<std::string> backend_names = {"serial"
#if MMFREE_HAS_SIMD
                                                        , "simd"
#endif
#if MMFREE_HAS_KOKKOS
                                                        , "kokkos"
#endif
};
#if MMFREE_HAS_SIMD
inline const std::string default_backend = "simd";  ///< of the commands that run a model for speed
#else
inline const std::string default_backend = "serial";
#endif
inline const std::vector<std::string> packing_names = {"i8", "i2", "tq1"};
inline const std::vector<std::string> act_names = {"int8", "fq32"};

/// True for the SIMD backends (which implement act::Int8 only).
template <class B>
constexpr bool is_simd() {
#if MMFREE_HAS_SIMD
  return mmfree::is_simd_backend<B>;
#else
  return false;
#endif
}

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

/// True for backend::Kokkos<> (act::Int8 only).
template <class B>
constexpr bool is_kokkos() {
#if MMFREE_HAS_KOKKOS
  return std::is_same_v<B, mmfree::backend::Kokkos<>>;
#else
  return false;
#endif
}

/// \brief Calls f(B{}, P{}) for the backend and packing named by two strings.
template <class F>
void with_backend_packing(std::string_view backend, std::string_view packing, F&& f) {
  using namespace mmfree;
  auto with_packing = [&]<class B>(B) {
    if (packing == "i8") return f(B{}, packing::I8{});
    if (packing == "i2") return f(B{}, packing::I2{});
    if (packing == "tq1") return f(B{}, packing::TQ1{});
    throw Error("unknown packing '" + std::string(packing) + "' (i8, i2, tq1)");
  };
  if (backend == "serial") return with_packing(backend::Serial{});
#if MMFREE_HAS_SIMD
  if (backend == "simd") return with_packing(backend::Simd{});
#endif
#if MMFREE_HAS_KOKKOS
  // backend::Kokkos on Kokkos' default execution space (the GPU in a CUDA/HIP build)
  if (backend == "kokkos") {
    start_kokkos();
    return with_packing(backend::Kokkos<>{});
  }
#endif
  std::string known = "serial";
  for (std::size_t i = 1; i < backend_names.size(); ++i) known += ", " + backend_names[i];
  throw Error("unknown backend '" + std::string(backend) + "' (this build has: " + known + ")");
}

/// \brief Calls f(mmfree::Policy<...>{}) for the policy named by three strings.
/// Only the combinations listed here are compiled into the tool (simd, kokkos: act::Int8 only).
template <class F>
void with_policy(std::string_view backend, std::string_view packing, std::string_view act, F&& f) {
  using namespace mmfree;
  with_backend_packing(backend, packing, [&]<class B, class P>(B, P) {
    if (act == "int8") return f(Policy<P, act::Int8, B>{});
    if (act == "fq32") {
      if constexpr (is_simd<B>() || is_kokkos<B>())
        throw Error("backend " + std::string(backend) + " implements --act int8 only (exact integer sums)");
      else
        return f(Policy<P, act::FakeQuant, B>{});
    }
    throw Error("unknown activation policy '" + std::string(act) + "' (int8, fq32)");
  });
}

/// \brief The run-time context of backend B: `threads` threads (simd), SIMD path `path` ("best",
/// "avx2", ...). The serial backend runs on one thread.
template <class B>
typename B::context_type make_context(int threads, const std::string& path) {
#if MMFREE_HAS_SIMD
  if constexpr (is_simd<B>()) {
    return typename B::context_type(mmfree::simd::Options{threads, mmfree::simd::parse_path(path)});
  } else
#endif
  {
    if (threads != 1) throw mmfree::Error("--threads needs --backend simd (the other backends take no thread count)");
    if (path != "best") throw mmfree::Error("--simd-path needs --backend simd");
    return {};
  }
}

/// Whether packed model files are checksummed on load (--no-verify turns it off).
inline bool g_verify = true;

/// --packing of commands that load a model: "auto" keeps a packed file's packing (no repacking)
/// and packs checkpoints as i2.
inline const std::vector<std::string> packing_choices = {"auto", "i8", "i2", "tq1"};
inline std::string resolve_packing(const std::string& model, const std::string& packing) {
  if (packing != "auto") return packing;
  std::error_code ec;
  if (!std::filesystem::is_directory(model, ec) && mmfree::io::is_model_file(model))
    return mmfree::io::read_model_file(model, {.verify = false}).index.packing;
  return "i2";
}

/// Adds --no-verify to a subcommand that loads models.
inline void add_no_verify(CLI::App* cmd) {
  cmd->add_flag_callback("--no-verify", [] { g_verify = false; },
                         "Skip the checksums of a packed model file (faster load; header and index are still checked)");
}

/// Loads a model packed with P from a checkpoint directory or a packed .mmfree file.
template <class P>
mmfree::HostWeights load_weights(const std::filesystem::path& path) {
  return mmfree::load_weights<P>(path, {.verify = g_verify});
}

/// Peak resident memory of this process in bytes (VmHWM of /proc/self/status; 0 if unknown).
inline std::uint64_t peak_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  std::uint64_t kb = 0;
  while (std::fgets(line, sizeof(line), f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtoull(line + 6, nullptr, 10);
  std::fclose(f);
  return kb * 1024;
}

/// Draws a text progress bar on stderr: "label [#####     ]  50%".
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)) {}
  void operator()(double f) {
    const int pct = int(std::min(1.0, std::max(0.0, f)) * 100.0 + 0.5);
    if (pct == last_) return;
    last_ = pct;
    const int w = 30, fill = pct * w / 100;
    std::fprintf(stderr, "\r%-10s [%.*s%*s] %3d%%", label_.c_str(), fill, "##############################", w - fill, "", pct);
    if (pct == 100) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  int last_ = -1;
};

/// One token id of --ids: an integer in the int32 range (the model checks it against its vocabulary).
inline std::int32_t parse_token_id(const std::string& tok) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(tok, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != tok.size()) throw mmfree::Error("--ids: '" + tok + "' is not an integer token id");
  if (v < INT32_MIN || v > INT32_MAX) throw mmfree::Error("--ids: token id " + tok + " is out of range");
  return std::int32_t(v);
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
      ids.push_back(parse_token_id(tok));
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
void register_train(CLI::App& app);  // only with mmfree::train (MMFREE_CLI_TRAIN)
void register_generate(CLI::App& app);
void register_convert(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_bench(CLI::App& app);

}  // namespace mmfree_cli
