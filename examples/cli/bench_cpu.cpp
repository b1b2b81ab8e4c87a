// SPDX-License-Identifier: MIT
// The CPU side of `mmfree bench`: a random-weight model of a published shape, the read bandwidth
// of a buffer of its packed size measured in the same process, then pp (prefill) and tg (decode)
// in tokens/s as llama-bench reports them, and decode's fraction of the measured bandwidth.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "common.hpp"

namespace mmfree_cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// What one run measured.
struct Result {
  mmfree::ModelConfig cfg;
  std::string path;  ///< kernels that ran
  double prefill_tok_s = 0, decode_tok_s = 0, read_gbps = 0;
  double fraction = 0;  ///< median over decode segments of weights GB/s / the bandwidth around it
  index_t packed = 0;
};

/// \brief Read bandwidth of a buffer of `bytes`: a read-only sum split over `threads` threads, with
/// the widest loads of the kernels' path (what the kernels can see). Kept for the whole run so the
/// decode repetitions can be paired with probes taken right before and after them.
class BandwidthProbe {
 public:
  BandwidthProbe(index_t bytes, int threads, const std::string& path)
      : bytes_((bytes + 4095) / 4096 * 4096), buf_(bytes_), threads_(threads) {
    std::memset(buf_.data(), 0x5a, std::size_t(bytes_));  // every page touched
#if MMFREE_HAS_SIMD
    ctx_ = std::make_unique<mmfree::simd::Context>(mmfree::simd::Options{threads, mmfree::simd::parse_path(path)});
#else
    if (threads != 1) throw mmfree::Error("without mmfree::simd the bandwidth probe runs on one thread");
    (void)path;
#endif
    measure(1);  // warm-up: TLB, thread wake-up
  }

  /// Median GB/s of `passes` passes.
  double measure(int passes) {
    std::vector<double> gbps;
    for (int r = 0; r < passes; ++r) {
      const auto t0 = Clock::now();
#if MMFREE_HAS_SIMD
      const auto read = ctx_->kernels().read_sum;
      std::uint64_t part[1024] = {};
      ctx_->parallel_for(bytes_ / 4096, 1, 1, [&](int t, index_t b, index_t e) {
        part[t] += read(buf_.data() + b * 4096, (e - b) * 4096);
      });
      for (int t = 0; t < threads_; ++t) sink_ = sink_ + part[t];
#else
      std::uint64_t s = 0;
      for (index_t k = 0; k + 8 <= bytes_; k += 8) {
        std::uint64_t v;
        std::memcpy(&v, buf_.data() + k, 8);
        s += v;
      }
      sink_ = sink_ + s;
#endif
      gbps.push_back(double(bytes_) / seconds_since(t0) / 1e9);
    }
    all_.insert(all_.end(), gbps.begin(), gbps.end());
    return median(gbps);
  }
  /// Median of every pass so far.
  double overall() const { return median(all_); }

 private:
  index_t bytes_;
  mmfree::Buffer<std::uint8_t, mmfree::HostSpace> buf_;
  int threads_;
#if MMFREE_HAS_SIMD
  std::unique_ptr<mmfree::simd::Context> ctx_;
#endif
  std::vector<double> all_;
  volatile std::uint64_t sink_ = 0;
};

/// The weights to run: random ones of the shape, or the model at o.model packed with P. A packed
/// file's mapping is copied into an arena of its own: the bench compares the kernels with the
/// memory, and mapped file pages (page cache, 4 KiB pages) are slower to stream than the arena's.
template <class P>
mmfree::HostWeights bench_weights(const BenchOptions& o) {
  if (o.model.empty()) return mmfree::random_weights<P>(mmfree::preset_config(o.shape), o.seed);
  mmfree::HostWeights w = load_weights<P>(o.model);
  std::error_code ec;
  if (std::filesystem::is_directory(o.model, ec)) return w;  // packed into an arena already
  std::uint8_t* data = nullptr;
  mmfree::HostWeights copy = mmfree::HostWeights::allocate(w.index, &data);
  std::memcpy(data, w.arena.base, std::size_t(w.index.arena_bytes));
  return copy;
}

template <class Pol>
Result bench_policy(const BenchOptions& o) {
  using P = typename Pol::packing;
  using B = typename Pol::backend;
  mmfree::Model<Pol> m(bench_weights<P>(o));
  const mmfree::ModelConfig cfg = m.config();
  const index_t V = cfg.vocab_size;
  Result res;
  res.cfg = cfg;
  res.packed = packed_ternary_bytes<P>(cfg);

  const index_t chunk = std::min<index_t>(o.prompt, 512);
  auto ws = m.make_workspace({.max_batch = 1, .max_chunk = chunk, .all_logits = false},
                             make_context<B>(o.threads, o.simd_path));
#if MMFREE_HAS_SIMD
  if constexpr (is_simd<B>()) res.path = std::string(mmfree::simd::path_name(ws.context().path()));
#endif
  auto state = m.make_state(1);
  std::vector<float> logits(static_cast<std::size_t>(V));
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(o.prompt));
  for (index_t i = 0; i < o.prompt; ++i) prompt[std::size_t(i)] = std::int32_t((i * 7919 + 13) % V);

  // warm-up: every code path once (pages of the weights, thread wake-up)
  m.prefill(ws, state, std::span<const std::int32_t>(prompt.data(), std::size_t(std::min<index_t>(o.prompt, 8))), 1,
            logits, mmfree::Logits::last);
  std::int32_t tok = 1;
  m.step(ws, state, {&tok, 1}, logits);

  // The bandwidth of the same number of bytes, in this process, on the same threads; measured
  // around every decode repetition, so each one is compared with the conditions it ran in.
  BandwidthProbe probe(res.packed, o.threads, is_simd<B>() ? o.simd_path : "best");

  std::vector<double> pp, tg, frac;
  for (int r = 0; r < o.repeat; ++r) {
    state.reset();
    const auto t0 = Clock::now();
    m.prefill(ws, state, prompt, 1, logits, mmfree::Logits::last);
    pp.push_back(double(o.prompt) / seconds_since(t0));
  }
  // Decode runs in segments of up to 32 tokens with one read pass before and after each: every
  // segment's weight traffic is compared with the bandwidth measured right around it (the machine
  // is shared, and its bandwidth changes from second to second).
  constexpr index_t segment = 32;
  double before = probe.measure(2);
  for (int r = 0; r < o.repeat; ++r) {
    state.reset();
    tok = 1;
    double total = 0;
    for (index_t i0 = 0; i0 < o.generate; i0 += segment) {
      const index_t n = std::min(segment, o.generate - i0);
      const auto t0 = Clock::now();
      for (index_t i = 0; i < n; ++i) {
        m.step(ws, state, {&tok, 1}, logits);
        tok = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());  // greedy
      }
      const double sec = seconds_since(t0);
      total += sec;
      const double after = probe.measure(2);
      frac.push_back(double(n) / sec * double(res.packed) / 1e9 / (0.5 * (before + after)));
      before = after;
    }
    tg.push_back(double(o.generate) / total);
  }
  res.read_gbps = probe.overall();
  res.fraction = median(frac);
  res.prefill_tok_s = median(pp);
  res.decode_tok_s = median(tg);
  return res;
}

}  // namespace

void run_cpu_bench(const BenchOptions& o) {
  Result r;
  with_backend_packing(o.backend, o.packing, [&]<class B, class P>(B, P) {
    r = bench_policy<mmfree::Policy<P, mmfree::act::Int8, B>>(o);
  });
  const mmfree::ModelConfig& cfg = r.cfg;
  const std::string what = o.model.empty() ? "shape " + o.shape : "model " + o.model;
  const double decode_gbps = r.decode_tok_s * double(r.packed) / 1e9;
  const double fraction = r.fraction;
  if (o.json) {
    nlohmann::ordered_json j;
    j["shape"] = o.model.empty() ? nlohmann::ordered_json(o.shape) : nlohmann::ordered_json();
    j["model"] = o.model.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(o.model);
    j["backend"] = o.backend;
    j["simd_path"] = r.path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.path);
    j["packing"] = o.packing;
    j["threads"] = o.threads;
    j["prompt_tokens"] = o.prompt;
    j["decode_tokens"] = o.generate;
    j["repeat"] = o.repeat;
    j["ternary_weights"] = cfg.ternary_params();
    j["packed_bytes_per_token"] = r.packed;
    j["prefill_tok_s"] = r.prefill_tok_s;
    j["decode_tok_s"] = r.decode_tok_s;
    j["decode_weight_gbps"] = decode_gbps;
    j["read_bandwidth_gbps"] = r.read_gbps;
    j["bandwidth_fraction"] = fraction;
    j["prefill_over_decode"] = r.prefill_tok_s / r.decode_tok_s;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("mmfree bench: %s (L=%lld H=%lld I=%lld V=%lld), backend %s%s%s, packing %s, %d thread%s\n",
              what.c_str(), (long long)cfg.num_layers, (long long)cfg.hidden_size, (long long)cfg.intermediate_size,
              (long long)cfg.vocab_size, o.backend.c_str(), r.path.empty() ? "" : " / ", r.path.c_str(),
              o.packing.c_str(), o.threads, o.threads == 1 ? "" : "s");
  std::printf("weights   %.1f MB of packed ternary weights read per decoded token (%.3f G weights)\n", r.packed / 1e6,
              cfg.ternary_params() / 1e9);
  std::printf("memory    %.1f GB/s read bandwidth (median of the read passes over %.0f MB around the decode runs, "
              "same threads)\n", r.read_gbps, r.packed / 1e6);
  std::printf("prefill   pp%lld: %.1f tok/s (median of %d)\n", (long long)o.prompt, r.prefill_tok_s, o.repeat);
  std::printf("decode    tg%lld: %.2f tok/s (median of %d) = %.1f GB/s of weights; %.2f of the read bandwidth "
              "(median over 32-token segments, each against the read passes right before and after it)\n",
              (long long)o.generate, r.decode_tok_s, o.repeat, decode_gbps, fraction);
  std::printf("ratio     prefill / decode = %.1f\n", r.prefill_tok_s / r.decode_tok_s);
}

}  // namespace mmfree_cli
