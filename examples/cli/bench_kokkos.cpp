// SPDX-License-Identifier: MIT
// mmfree bench --backend kokkos: on Kokkos' default execution space (the GPU in a CUDA build),
// measures in one process
//   * the space's memory bandwidth: a device-to-device copy (bytes read + written) and a
//     read-only sum, both over buffers far larger than the caches;
//   * prefill (pp): `--prompt` tokens per sequence in chunks of `--chunk`, tokens/s;
//   * decode (tg): `--gen` steps after a prompt, tokens/s, with the graph replay and without;
//   * memory: the bytes mmfree holds in device memory (peak) and the driver's view of it;
// and derives the decode floor (packed ternary bytes a step / copy bandwidth) and the achieved
// fraction. Prefill runs in chunks of `--chunk` tokens (the workspace the memory figure is for)
// and, at batch 1, also in one pass (a workspace for the whole prompt, with its own peak).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.hpp"
#include "common.hpp"

namespace mmfree_cli {

namespace {

using Ex = Kokkos::DefaultExecutionSpace;
using KB = mmfree::backend::Kokkos<Ex>;
using Mem = KB::memory_space;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

struct DeviceInfo {
  std::string name;
  double memory_bytes = 0;
  int multiprocessors = 0;
};

DeviceInfo device_info() {
  DeviceInfo d;
  d.name = Ex::name();
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same_v<Ex, Kokkos::Cuda>) {
    int dev = 0;
    cudaDeviceProp p{};
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&p, dev) == cudaSuccess) {
      d.name = std::string("Cuda: ") + p.name;
      d.memory_bytes = double(p.totalGlobalMem);
      d.multiprocessors = p.multiProcessorCount;
    }
  }
#endif
  return d;
}

/// Device memory in use according to the driver (CUDA); -1 where unknown.
double driver_used_bytes() {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same_v<Ex, Kokkos::Cuda>) {
    std::size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) return double(total_b - free_b);
  }
#endif
  return -1.0;
}

/// Peak of driver_used_bytes() over the points where it is sampled.
struct DriverPeak {
  double base = driver_used_bytes(), peak = base;
  void sample() { peak = std::max(peak, driver_used_bytes()); }
  double bytes() const { return base < 0 ? -1.0 : peak - base; }
};

/// Fills a buffer with a non-zero pattern (never time on zeros).
struct FillPattern {
  std::uint64_t* p;
  KOKKOS_INLINE_FUNCTION void operator()(std::int64_t i) const { p[i] = std::uint64_t(i) * 0x9e3779b97f4a7c15ull + 1; }
};
/// Read-only pass: 16 bytes a thread and iteration, folded into a sum so nothing is optimised away.
struct ReadSum {
  const mmfree::kk::U4* p;
  KOKKOS_INLINE_FUNCTION void operator()(std::int64_t i, std::uint64_t& acc) const {
    const mmfree::kk::U4 v = mmfree::kk::load16(p + i);
    acc += std::uint64_t(v.x ^ v.y) + std::uint64_t(v.z ^ v.w);
  }
};

struct Bandwidth {
  double buffer_bytes = 0, copy_gbs = 0, read_gbs = 0;
};

/// Bandwidth of the space's memory over two buffers of `bytes` each (medians of `reps`).
Bandwidth measure_bandwidth(std::size_t bytes, int reps) {
  Bandwidth bw;
  bytes = bytes / 64 * 64;
  bw.buffer_bytes = double(bytes);
  const std::int64_t n8 = std::int64_t(bytes / 8), n16 = std::int64_t(bytes / 16);
  auto* a = static_cast<std::uint64_t*>(Kokkos::kokkos_malloc<Ex::memory_space>("mmfree::bench_a", bytes));
  auto* b = static_cast<std::uint64_t*>(Kokkos::kokkos_malloc<Ex::memory_space>("mmfree::bench_b", bytes));
  Kokkos::parallel_for("mmfree::bench_fill", Kokkos::RangePolicy<Ex>(0, n8), FillPattern{a});
  Kokkos::fence();
  using U = Kokkos::View<std::uint64_t*, Ex::memory_space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  U va(a, std::size_t(n8)), vb(b, std::size_t(n8));
  std::vector<double> tc, tr;
  std::uint64_t sink = 0;
  for (int r = 0; r < reps + 1; ++r) {  // the first of each is a warm-up
    Kokkos::fence();
    auto t0 = Clock::now();
    Kokkos::deep_copy(vb, va);
    Kokkos::fence();
    if (r > 0) tc.push_back(since(t0));
    std::uint64_t s = 0;
    t0 = Clock::now();
    Kokkos::parallel_reduce("mmfree::bench_read", Kokkos::RangePolicy<Ex>(0, n16),
                            ReadSum{reinterpret_cast<const mmfree::kk::U4*>(r % 2 ? a : b)}, s);
    Kokkos::fence();
    if (r > 0) tr.push_back(since(t0));
    sink += s;
  }
  Kokkos::kokkos_free<Ex::memory_space>(a);
  Kokkos::kokkos_free<Ex::memory_space>(b);
  bw.copy_gbs = 2.0 * double(bytes) / median(tc) / 1e9;
  bw.read_gbs = double(bytes) / median(tr) / 1e9;
  if (sink == 42) std::fprintf(stderr, " ");  // keeps the sums alive
  return bw;
}

std::vector<std::int32_t> prompt_ids(index_t n, index_t V) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  std::uint64_t s = 12345;
  for (auto& id : ids) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = std::int32_t((s >> 33) % std::uint64_t(V));
  }
  return ids;
}

/// The backend options the measured workspaces use (the defaults, but for --gemv-chain).
mmfree::kk::Options base_options(const KokkosBenchOptions& o) {
  mmfree::kk::Options opt;
  opt.plan.gemv_chain = o.gemv_chain;
  return opt;
}

/// Batch 1: decode and one-pass prefill under kernel-choice variants, and a per-kernel profile
/// (every launch fenced: absolute times include launch overhead, the split is what matters).
template <class Model>
void explore(const Model& model, const KokkosBenchOptions& o, nlohmann::ordered_json& j) {
  using Options = mmfree::kk::Options;
  const index_t V = model.config().vocab_size;
  std::vector<float> logits(static_cast<std::size_t>(V));
  std::vector<std::int32_t> tok(1);
  auto decode = [&](const Options& opt, index_t steps) {
    auto ws = model.make_workspace({.max_batch = 1, .max_chunk = 1, .all_logits = false},
                                   mmfree::kk::Context<Ex>(Ex{}, opt));
    auto st = model.make_state(1);
    for (index_t t = 0; t < 3; ++t) tok[0] = std::int32_t(t % V), model.step(ws, st, tok, logits);
    ws.context().clear_profile();
    const auto t0 = Clock::now();
    for (index_t t = 0; t < steps; ++t) tok[0] = std::int32_t((t * 7 + 1) % V), model.step(ws, st, tok, logits);
    return std::make_pair(double(steps) / since(t0), ws.context().profile());
  };
  auto prefill = [&](const Options& opt, int reps) {
    auto ws = model.make_workspace({.max_batch = 1, .max_chunk = o.prompt, .all_logits = false},
                                   mmfree::kk::Context<Ex>(Ex{}, opt));
    auto st = model.make_state(1);
    const auto ids = prompt_ids(o.prompt, V);
    std::vector<double> t;
    for (int r = 0; r < reps + 2; ++r) {
      st.reset();
      if (r == reps + 1) ws.context().clear_profile();
      Kokkos::fence();
      const auto t0 = Clock::now();
      model.prefill(ws, st, ids, 1, logits, mmfree::Logits::last);
      if (r > 1) t.push_back(since(t0));
    }
    return std::make_pair(double(o.prompt) / median(t), ws.context().profile());
  };
  nlohmann::ordered_json dv, pv, dp, pp;
  Options base;
  dv["default"] = decode(base, o.gen).first;
  for (int rpg : {1, 2, 4}) {
    Options v;
    v.plan.gemv_rows_per_group = rpg;
    dv["gemv_rows_per_group_" + std::to_string(rpg)] = decode(v, o.gen).first;
  }
  for (int team : {256, 512}) {
    Options v;
    v.plan.gemv_team = team;
    dv["gemv_team_" + std::to_string(team)] = decode(v, o.gen).first;
  }
  {
    Options v;
    v.plan.gemv_chain = !o.gemv_chain;  // the other decode GEMV design
    dv[o.gemv_chain ? "no_gemv_chain" : "gemv_chain"] = decode(v, o.gen).first;
  }
  {
    Options v;
    v.plan.prefetch = false;
    dv["no_prefetch"] = decode(v, o.gen).first;
    v = Options{};
    v.programmatic = !base.programmatic;
    dv[base.programmatic ? "no_programmatic" : "programmatic"] = decode(v, o.gen).first;
    for (int pct : {50, 70}) {
      v = Options{};
      v.plan.gemv_wave_percent = pct;
      dv["gemv_wave_" + std::to_string(pct)] = decode(v, o.gen).first;
      v.programmatic = !base.programmatic;
      dv["gemv_wave_" + std::to_string(pct) + (base.programmatic ? "_no_programmatic" : "_programmatic")] =
          decode(v, o.gen).first;
    }
    // half-size teams filling half the slots: one team a multiprocessor, leaving registers for
    // the next launch's team to start early
    v = Options{};
    v.plan.gemv_team = 512;
    v.plan.gemv_wave_percent = 50;
    dv["gemv_team_512_wave_50"] = decode(v, o.gen).first;
    v = Options{};
    v.plan.gemv_epilogues = false;
    dv["no_gemv_epilogues"] = decode(v, o.gen).first;
    v = Options{};
    v.plan.gemv = false;
    dv["no_gemv_prep_gemm"] = decode(v, o.gen).first;
    v = Options{};
    v.plan.fuse = false;
    dv["unfused"] = decode(v, o.gen).first;
  }
  pv["default"] = prefill(base, o.reps).first;
  for (int tile : {0, 1})
    for (bool tc : {true, false}) {
      Options v;
      v.plan.gemm_tile = tile;
      v.plan.tensor_cores = tc;
      pv[std::string(tc ? "mma" : "dp4a") + "_tile" + std::to_string(tile)] = prefill(v, o.reps).first;
    }
  Options prof;
  prof.profile = true;
  const index_t psteps = 8;
  for (const auto& e : decode(prof, psteps).second.entries)
    dp[e.label] = {{"us_per_step", 1e6 * e.seconds / double(psteps)}, {"launches_per_step", double(e.count) / double(psteps)}};
  for (const auto& e : prefill(prof, 1).second.entries) pp[e.label] = {{"ms", 1e3 * e.seconds}, {"launches", e.count}};
  j["variants_decode_tok_s"] = dv;
  j["variants_prefill_tok_s"] = pv;
  j["profile_decode"] = dp;
  j["profile_prefill"] = pp;
}

template <class P>
void run(const KokkosBenchOptions& o, const DeviceInfo& dev, const Bandwidth& bw) {
  using Pol = mmfree::Policy<P, mmfree::act::Int8, KB>;
  auto t0 = Clock::now();
  mmfree::HostWeights hw = o.model.empty() ? mmfree::random_weights<P>(mmfree::preset_config(o.shape), 1)
                                           : load_weights<P>(o.model);
  const double make_s = since(t0);
  DriverPeak drv;
  Mem::reset_peak();
  const std::size_t mem_before = Mem::bytes_in_use();
  t0 = Clock::now();
  mmfree::Model<Pol> model(std::move(hw));
  Kokkos::fence();
  const double upload_s = since(t0);
  drv.sample();
  const auto& cfg = model.config();
  const index_t V = cfg.vocab_size;
  const index_t chunk = o.chunk > 0 ? std::min(o.chunk, o.prompt) : o.prompt;
  const double weight_bytes = double(model.backend_weight_bytes());  // all read once a decode step
  // the floor: every packed ternary matrix read once a decode step, at the copy bandwidth
  const double packed = double(packed_ternary_bytes<P>(cfg));

  for (const index_t B : o.batches) {
    Mem::reset_peak();
    DriverPeak drv_b = drv;
    nlohmann::ordered_json j;
    j["backend"] = "kokkos";
    j["device"] = dev.name;
    j["shape"] = o.model.empty() ? o.shape : o.model;
    j["packing"] = std::string(P::name());
    j["batch"] = B;
    j["prompt"] = o.prompt;
    j["gen"] = o.gen;
    j["chunk"] = chunk;
    j["reps"] = o.reps;
    j["gemv_chain"] = o.gemv_chain;
    {
      auto ws = model.make_workspace({.max_batch = B, .max_chunk = chunk, .all_logits = false},
                                     mmfree::kk::Context<Ex>(Ex{}, base_options(o)));
      auto st = model.make_state(B);
      const auto ids = prompt_ids(B * o.prompt, V);
      std::vector<float> logits(static_cast<std::size_t>(B * V));
      // prefill (pp): one warm-up, then reps from a zero state
      std::vector<double> tp;
      for (int r = 0; r < o.reps + 2; ++r) {  // two warm-ups: the second captures the graphs
        st.reset();
        Kokkos::fence();
        const auto t = Clock::now();
        model.prefill(ws, st, ids, B, logits, mmfree::Logits::last);  // ends with a copy to the host
        if (r > 1) tp.push_back(since(t));
      }
      drv_b.sample();
      // decode (tg): after the prompt, steps of B tokens; the first steps record the graph
      std::vector<std::int32_t> tok(static_cast<std::size_t>(B));
      auto next_tokens = [&](index_t t) {
        for (index_t b = 0; b < B; ++b) tok[std::size_t(b)] = std::int32_t((t * 131 + b * 17 + 7) % V);
      };
      st.reset();
      model.prefill(ws, st, ids, B, logits, mmfree::Logits::last);
      for (index_t t = 0; t < 3; ++t) next_tokens(t), model.step(ws, st, tok, logits);
      std::vector<double> tg;
      for (int r = 0; r < o.reps; ++r) {
        const auto t = Clock::now();
        for (index_t s = 0; s < o.gen; ++s) next_tokens(s), model.step(ws, st, tok, logits);
        tg.push_back(since(t));
      }
      drv_b.sample();
      const auto stats = ws.context().stats();
      // the same steps launch by launch (no graph), for comparison
      auto opt = ws.context().options();
      opt.graphs = false;
      ws.context().set_options(opt);
      for (index_t t = 0; t < 2; ++t) next_tokens(t), model.step(ws, st, tok, logits);
      auto t = Clock::now();
      for (index_t s = 0; s < o.gen; ++s) next_tokens(s), model.step(ws, st, tok, logits);
      const double eager_s = since(t);

      const double tg_s = median(tg), pp_s = median(tp);
      j["decode_tok_s"] = double(B * o.gen) / tg_s;
      j["decode_us_per_step"] = 1e6 * tg_s / double(o.gen);
      j["decode_eager_tok_s"] = double(B * o.gen) / eager_s;
      j["launches_per_step"] = stats.last_launches;
      j["graph_replays"] = stats.graph_replays;
      j["programmatic_edges"] = stats.programmatic_edges;
      j["prefill_tok_s"] = double(B * o.prompt) / pp_s;
      j["prefill_ms"] = 1e3 * pp_s;
      j["weight_bytes"] = weight_bytes;
      j["packed_bytes_per_token"] = packed;
      j["decode_weight_gbps"] = packed * double(o.gen) / tg_s / 1e9;
      j["read_bandwidth_gbps"] = bw.read_gbs;
      j["copy_bandwidth_gbps"] = bw.copy_gbs;
      j["bandwidth_fraction"] = packed * double(o.gen) / tg_s / 1e9 / bw.copy_gbs;
      j["floor_tok_s"] = double(B) * bw.copy_gbs * 1e9 / packed;
    }
    j["peak_device_bytes"] = double(Mem::peak_bytes() - mem_before);
    j["peak_device_bytes_driver"] = drv_b.bytes();
    // one-pass prefill (chunk = prompt) for batch 1, with its own memory peak
    if (B == 1 && chunk < o.prompt) {
      Mem::reset_peak();
      auto ws = model.make_workspace({.max_batch = 1, .max_chunk = o.prompt, .all_logits = false},
                                     mmfree::kk::Context<Ex>(Ex{}, base_options(o)));
      auto st = model.make_state(1);
      const auto ids = prompt_ids(o.prompt, V);
      std::vector<float> logits(static_cast<std::size_t>(V));
      std::vector<double> tp;
      for (int r = 0; r < o.reps + 2; ++r) {  // two warm-ups: the second captures the graphs
        st.reset();
        Kokkos::fence();
        const auto t = Clock::now();
        model.prefill(ws, st, ids, 1, logits, mmfree::Logits::last);
        if (r > 1) tp.push_back(since(t));
      }
      j["prefill_onepass_tok_s"] = double(o.prompt) / median(tp);
      j["prefill_onepass_peak_device_bytes"] = double(Mem::peak_bytes() - mem_before);
    }
    if (o.explore && B == 1) explore(model, o, j);
    j["model_make_s"] = make_s;
    j["upload_s"] = upload_s;
    if (o.json) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s %s (%s), batch %lld, device %s\n", std::string(j["shape"]).c_str(),
                  std::string(P::name()).c_str(), "kokkos", (long long)B, dev.name.c_str());
      std::printf("  decode  %10.1f tok/s  (%.1f us/step, %d launches/step; without graph %.1f tok/s)\n",
                  double(j["decode_tok_s"]), double(j["decode_us_per_step"]), int(j["launches_per_step"]),
                  double(j["decode_eager_tok_s"]));
      std::printf("  prefill %10.1f tok/s  (pp%lld, chunk %lld)\n", double(j["prefill_tok_s"]), (long long)o.prompt,
                  (long long)chunk);
      if (j.contains("prefill_onepass_tok_s"))
        std::printf("  prefill %10.1f tok/s  (pp%lld in one pass, peak %.1f MB)\n", double(j["prefill_onepass_tok_s"]),
                    (long long)o.prompt, double(j["prefill_onepass_peak_device_bytes"]) / 1e6);
      std::printf("  memory  %.1f MB peak held by mmfree (driver: %.1f MB); weights %.1f MB\n",
                  double(j["peak_device_bytes"]) / 1e6, double(j["peak_device_bytes_driver"]) / 1e6, weight_bytes / 1e6);
      std::printf("  bandwidth: copy %.0f GB/s (r+w), read %.0f GB/s; decode reads the %.1f MB of packed weights at "
                  "%.0f GB/s = %.1f%% of copy; floor %.0f tok/s\n",
                  bw.copy_gbs, bw.read_gbs, packed / 1e6, double(j["decode_weight_gbps"]), 100.0 * double(j["bandwidth_fraction"]),
                  double(j["floor_tok_s"]));
    }
    std::fflush(stdout);
  }
}

}  // namespace

void bench_kokkos(const KokkosBenchOptions& o) {
  start_kokkos();
  const DeviceInfo dev = device_info();
  // large enough to defeat the caches (50 MB L2 on an H100), small enough for any GPU
  const std::size_t bw_bytes = dev.memory_bytes > 8e9 ? (std::size_t(1) << 30) : (std::size_t(1) << 28);
  const Bandwidth bw = measure_bandwidth(bw_bytes, std::max(o.reps, 5));
  if (o.packing == "i2") return run<mmfree::packing::I2>(o, dev, bw);
  if (o.packing == "i8") return run<mmfree::packing::I8>(o, dev, bw);
  if (o.packing == "tq1") return run<mmfree::packing::TQ1>(o, dev, bw);
  throw mmfree::Error("unknown packing '" + o.packing + "'");
}

}  // namespace mmfree_cli
