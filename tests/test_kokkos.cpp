// SPDX-License-Identifier: MIT
// backend::Kokkos against backend::Serial: golden tiny-a and random odd shapes, prefill and step,
// every kernel path (fused GEMV, prep + GEMM, unfused hooks, graph replay). Integer sums are
// exact and every float step is the oracle's, so logits must be bit-identical.
// Runs on whatever Kokkos' default execution space is (Serial in CI, CUDA on the GPU machine).
#define CATCH_CONFIG_RUNNER
#include <Kokkos_Core.hpp>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <mmfree/mmfree.hpp>

#include "support/catch.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/random_checkpoint.hpp"

using namespace mmfree;
using namespace mmfree_test;

namespace {

using KBackend = backend::Kokkos<>;
template <class P>
using KPol = Policy<P, act::Int8, KBackend>;
template <class P>
using SPol = Policy<P, act::Int8, backend::Serial>;
using Mem = KBackend::memory_space;

/// Host copy of n floats of backend memory.
std::vector<float> to_host(const float* p, index_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  Mem::copy_to_host(v.data(), p, std::size_t(n) * sizeof(float));
  return v;
}
/// Backend buffer holding a copy of host floats.
Buffer<float, Mem> to_device(const std::vector<float>& v) {
  Buffer<float, Mem> b(index_t(v.size()));
  Mem::copy_from_host(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}

/// Number of positions where a and b differ in any bit (NaN-safe), with the first one in `where`.
std::size_t differing(const std::vector<float>& a, const std::vector<float>& b, std::size_t* where = nullptr) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (f32_to_bits(a[i]) != f32_to_bits(b[i])) {
      if (n == 0 && where) *where = i;
      ++n;
    }
  return n;
}

#define CHECK_BITS(got, want)                                                                   \
  do {                                                                                          \
    std::size_t first_ = 0;                                                                     \
    const std::size_t n_ = differing(got, want, &first_);                                       \
    INFO("differing values: " << n_ << " of " << (want).size() << " (first at " << first_      \
                              << "), max-rel " << max_rel(got, want));                          \
    CHECK(n_ == 0);                                                                             \
  } while (0)

struct Golden {
  io::SafetensorsFile expected = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
  std::vector<float> get(const std::string& name) const { return as_f32(expected.get(name)); }
};

/// Logits of `batch` sequences of ids (row-major [batch, T]) by prefill (Logits::all, chunks of
/// `chunk`) and by T decode steps, concatenated as [batch, T, V] each.
template <class Pol>
std::pair<std::vector<float>, std::vector<float>> run_model(const Model<Pol>& m, const std::vector<std::int32_t>& ids,
                                                            index_t batch, index_t chunk,
                                                            typename Pol::backend::context_type ctx = {}) {
  const index_t V = m.config().vocab_size, T = index_t(ids.size()) / batch;
  auto ws = m.make_workspace({.max_batch = batch, .max_chunk = chunk}, std::move(ctx));
  auto st = m.make_state(batch);
  std::vector<float> full(std::size_t(batch * T * V));
  m.prefill(ws, st, ids, batch, full, Logits::all);
  std::vector<float> stepped(full.size()), one(std::size_t(batch * V));
  auto st2 = m.make_state(batch);
  std::vector<std::int32_t> tok(static_cast<std::size_t>(batch));
  for (index_t t = 0; t < T; ++t) {
    for (index_t b = 0; b < batch; ++b) tok[std::size_t(b)] = ids[std::size_t(b * T + t)];
    m.step(ws, st2, tok, one);
    for (index_t b = 0; b < batch; ++b) std::copy_n(one.begin() + b * V, V, stepped.begin() + (b * T + t) * V);
  }
  return {full, stepped};
}

std::vector<std::int32_t> some_ids(index_t n, index_t V, int seed) {
  std::vector<std::int32_t> ids;
  for (index_t i = 0; i < n; ++i) ids.push_back(std::int32_t((i * 37 + seed * 11 + 5) % V));
  return ids;
}

}  // namespace

// Graph nodes of the probe (device lambdas may not be defined inside create_graph's generic lambda).
struct ProbeSet {
  Kokkos::View<int*, Kokkos::DefaultExecutionSpace::memory_space> g;
  KOKKOS_INLINE_FUNCTION void operator()(int i) const { g(i) = i; }
};
struct ProbeTriple {
  Kokkos::View<int*, Kokkos::DefaultExecutionSpace::memory_space> g;
  KOKKOS_INLINE_FUNCTION void operator()(int i) const { g(i) = 3 * g(i) + 1; }
};

// The toolchain probe: Views captured by device lambdas, a reduction, a team reduction with
// scratch, and a graph. (nvcc 12.9/13.0 lay out kernel parameters with [[no_unique_address]]
// members differently on host and device; a Kokkos built without the fix fails this.)
TEST_CASE("kokkos: toolchain probe (View lambdas, reduction, team scratch, graph)", "[kokkos][probe]") {
  using Ex = Kokkos::DefaultExecutionSpace;
  const int n = 100000;
  Kokkos::View<double*, Ex::memory_space> v("probe", n);
  Kokkos::parallel_for("mmfree::probe_fill", Kokkos::RangePolicy<Ex>(0, n), KOKKOS_LAMBDA(int i) { v(i) = 0.5 * i; });
  double sum = 0;
  Kokkos::parallel_reduce(
      "mmfree::probe_sum", Kokkos::RangePolicy<Ex>(0, n), KOKKOS_LAMBDA(int i, double& a) { a += v(i); }, sum);
  CHECK(sum == 0.25 * double(n) * double(n - 1));

  const int league = 37;
  Kokkos::View<long*, Ex::memory_space> out("probe_team", league);
  using Team = Kokkos::TeamPolicy<Ex>;
  const int ts = mmfree::kk::team_threads<Ex>;
  Kokkos::parallel_for(
      "mmfree::probe_team", Team(league, ts).set_scratch_size(0, Kokkos::PerTeam(64 * sizeof(long))),
      KOKKOS_LAMBDA(const Team::member_type& m) {
        long* sh = static_cast<long*>(m.team_shmem().get_shmem(64 * sizeof(long)));
        Kokkos::parallel_for(Kokkos::TeamThreadRange(m, 64), [&](int k) { sh[k] = k + m.league_rank(); });
        m.team_barrier();
        long s = 0;
        Kokkos::parallel_reduce(Kokkos::TeamThreadRange(m, 64), [&](int k, long& a) { a += sh[k]; }, s);
        if (m.team_rank() == 0) out(m.league_rank()) = s;
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out);
  for (int l = 0; l < league; ++l) CHECK(h(l) == 64 * 63 / 2 + 64 * l);

  Kokkos::View<int*, Ex::memory_space> g("probe_graph", 1000);
  auto graph = Kokkos::Experimental::create_graph(Ex{}, [&](const auto& root) {
    auto a = root.then_parallel_for("mmfree::probe_g1", Kokkos::RangePolicy<Ex>(0, 1000), ProbeSet{g});
    a.then_parallel_for("mmfree::probe_g2", Kokkos::RangePolicy<Ex>(0, 1000), ProbeTriple{g});
  });
  graph.submit();
  graph.submit();  // a replay: the second node reads what the first wrote
  Kokkos::fence();
  auto gh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), g);
  for (int i = 0; i < 1000; i += 111) CHECK(gh(i) == 3 * i + 1);
}

TEST_CASE("kokkos: memory space round trip, zero fill and byte counts", "[kokkos]") {
  const std::size_t before = Mem::bytes_in_use();
  {
    std::vector<float> v{1.5f, -2.0f, 3.25f, 0.0f, 7.0f};
    auto b = to_device(v);
    CHECK(Mem::bytes_in_use() >= before + v.size() * sizeof(float));
    CHECK(to_host(b.data(), 5) == v);
    Mem::fill_zero(b.data(), 2 * sizeof(float));
    CHECK(to_host(b.data(), 5) == std::vector<float>{0.0f, 0.0f, 3.25f, 0.0f, 7.0f});
  }
  CHECK(Mem::bytes_in_use() == before);
  CHECK(Mem::peak_bytes() >= before + 5 * sizeof(float));
}

TEMPLATE_TEST_CASE("kokkos: each BitLinear of tiny-a layer 0 and lm_head equals serial (eager hooks)", "[kokkos][golden]",
                   packing::I8, packing::I2, packing::TQ1) {
  using P = TestType;
  Golden g;
  const auto dir = golden_dir() / "tiny-a" / "model";
  Model<SPol<P>> sm(io::load_checkpoint<P>(dir));
  Model<KPol<P>> km(io::load_checkpoint<P>(dir));
  auto check_layer = [&](const BitLinear<SPol<P>>& sl, const BitLinear<KPol<P>>& kl, const std::string& name) {
    const auto in = g.get(name + ".in");
    const index_t K = sl.in_features(), N = sl.out_features();
    for (index_t rows : {index_t(1), index_t(in.size()) / K}) {  // the GEMV and the GEMM
      std::vector<float> want(std::size_t(rows * N));
      Workspace<SPol<P>> sws(sm.config(), {.max_batch = rows, .max_chunk = 1});
      sl.forward(sws.context(), ConstMatrixView<float>(in.data(), rows, K), MatrixView<float>(want.data(), rows, N),
                 sws.act_scratch());
      Workspace<KPol<P>> kws(km.config(), {.max_batch = rows, .max_chunk = 1});
      std::vector<float> inr(in.begin(), in.begin() + rows * K);
      auto x = to_device(inr);
      Buffer<float, Mem> y(rows * N);
      kl.forward(kws.context(), ConstMatrixView<float>(x.data(), rows, K), MatrixView<float>(y.data(), rows, N),
                 kws.act_scratch());
      INFO(name << " rows " << rows);
      CHECK_BITS(to_host(y.data(), rows * N), want);
      if (rows > 1) CHECK(max_rel(want, g.get(name + ".out")) <= 1e-6);
    }
  };
  const auto& sb = sm.blocks()[0];
  const auto& kb = km.blocks()[0];
  check_layer(sb.attn().i_proj(), kb.attn().i_proj(), "model.layers.0.attn.i_proj");
  check_layer(sb.attn().f_proj(), kb.attn().f_proj(), "model.layers.0.attn.f_proj");
  check_layer(sb.attn().o_proj(), kb.attn().o_proj(), "model.layers.0.attn.o_proj");
  check_layer(sb.mlp().gate_proj(), kb.mlp().gate_proj(), "model.layers.0.mlp.gate_proj");
  check_layer(sb.mlp().down_proj(), kb.mlp().down_proj(), "model.layers.0.mlp.down_proj");
  check_layer(sm.lm_head(), km.lm_head(), "lm_head");
}

TEST_CASE("kokkos: norms, recurrence, gated norm and GLU hooks equal serial", "[kokkos][golden]") {
  using P = packing::I2;
  Golden g;
  const auto dir = golden_dir() / "tiny-a" / "model";
  Model<SPol<P>> sm(io::load_checkpoint<P>(dir));
  Model<KPol<P>> km(io::load_checkpoint<P>(dir));
  const auto& cfg = sm.config();
  const index_t H = cfg.hidden_size, B = 2, T = 16, R = B * T;
  Workspace<SPol<P>> sws(cfg, {.max_batch = B, .max_chunk = T});
  Workspace<KPol<P>> kws(cfg, {.max_batch = B, .max_chunk = T});
  using SK = detail::Kernels<backend::Serial>;
  using KK = detail::Kernels<KBackend>;
  std::vector<float> want(std::size_t(R * H));
  MatrixView<float> wy(want.data(), R, H);
  Buffer<float, Mem> ky(R * H);
  MatrixView<float> kyv(ky.data(), R, H);

  SECTION("rmsnorm") {
    const auto in = g.get("model.layers.0.attn_norm.in");
    auto x = to_device(in);
    SK::rmsnorm(sws.context(), ConstMatrixView<float>(in.data(), R, H), sm.weights().layers[0].attn_norm,
                cfg.rms_norm_eps, wy);
    KK::rmsnorm(kws.context(), ConstMatrixView<float>(x.data(), R, H), km.weights().layers[0].attn_norm,
                cfg.rms_norm_eps, kyv);
    CHECK_BITS(to_host(ky.data(), R * H), want);
  }
  SECTION("gated norm") {
    const auto gi = g.get("model.layers.0.attn.g_norm.in");
    const auto si = g.get("model.layers.0.attn.g_norm.in2");
    auto gd = to_device(gi), sd = to_device(si);
    SK::gated_norm(sws.context(), ConstMatrixView<float>(gi.data(), R, H), ConstMatrixView<float>(si.data(), R, H),
                   sm.weights().layers[0].g_norm, cfg.rms_norm_eps, wy);
    KK::gated_norm(kws.context(), ConstMatrixView<float>(gd.data(), R, H), ConstMatrixView<float>(sd.data(), R, H),
                   km.weights().layers[0].g_norm, cfg.rms_norm_eps, kyv);
    CHECK_BITS(to_host(ky.data(), R * H), want);
  }
  SECTION("recurrence over 16 steps with lower bounds, and add") {
    const auto iv = g.get("model.layers.0.attn.g_norm.in");  // any data will do
    const auto fv = g.get("model.layers.0.attn_norm.in");
    std::vector<float> si = iv, state(std::size_t(B * H), 0.25f);
    auto id = to_device(iv), fd = to_device(fv), sd = to_device(state);
    const float* lb_host = sm.weights().layers[1].lower_bound;
    const float* lb_dev = km.weights().layers[1].lower_bound;
    REQUIRE(lb_host != nullptr);
    SK::mlgru_scan(sws.context(), MatrixView<float>(si.data(), R, H), ConstMatrixView<float>(fv.data(), R, H), lb_host,
                   MatrixView<float>(state.data(), B, H), B, T);
    KK::mlgru_scan(kws.context(), MatrixView<float>(id.data(), R, H), ConstMatrixView<float>(fd.data(), R, H), lb_dev,
                   MatrixView<float>(sd.data(), B, H), B, T);
    CHECK_BITS(to_host(id.data(), R * H), si);
    CHECK_BITS(to_host(sd.data(), B * H), state);
    SK::add(sws.context(), MatrixView<float>(si.data(), R, H), ConstMatrixView<float>(fv.data(), R, H));
    KK::add(kws.context(), MatrixView<float>(id.data(), R, H), ConstMatrixView<float>(fd.data(), R, H));
    CHECK_BITS(to_host(id.data(), R * H), si);
  }
  SECTION("GLU") {
    const index_t I = cfg.intermediate_size;
    std::vector<float> u(std::size_t(R * 2 * I));
    mmfree_test::Rng rng(3);
    for (auto& v : u) v = 4.0f * rng.uniform();
    auto ud = to_device(u);
    std::vector<float> v(std::size_t(R * I));
    Buffer<float, Mem> vd(R * I);
    SK::glu(sws.context(), ConstMatrixView<float>(u.data(), R, 2 * I), MatrixView<float>(v.data(), R, I));
    KK::glu(kws.context(), ConstMatrixView<float>(ud.data(), R, 2 * I), MatrixView<float>(vd.data(), R, I));
    CHECK_BITS(to_host(vd.data(), R * I), v);
  }
}

TEMPLATE_TEST_CASE("kokkos: tiny-a logits (prefill and step) equal serial to the last bit", "[kokkos][golden]",
                   packing::I8, packing::I2, packing::TQ1) {
  using P = TestType;
  Golden g;
  const auto dir = golden_dir() / "tiny-a" / "model";
  Model<SPol<P>> sm(io::load_checkpoint<P>(dir));
  Model<KPol<P>> km(io::load_checkpoint<P>(dir));
  const auto ids = ids_of(g.expected);
  const auto [sfull, sstep] = run_model(sm, ids, 2, 5);
  const auto [kfull, kstep] = run_model(km, ids, 2, 5);
  CHECK_BITS(kfull, sfull);
  CHECK_BITS(kstep, sstep);
  CHECK(mean_rel(kfull, g.get("logits")) <= 4e-3);
  CHECK(argmax_agreement(kfull, g.get("logits"), std::size_t(km.config().vocab_size)) == 1.0);
  // batch 1: the decode steps take the fused GEMV path
  const std::vector<std::int32_t> one(ids.begin(), ids.begin() + 16);
  const auto [s1, s1s] = run_model(sm, one, 1, 16);
  const auto [k1, k1s] = run_model(km, one, 1, 16);
  CHECK_BITS(k1, s1);
  CHECK_BITS(k1s, s1s);
}

TEST_CASE("kokkos: random odd shapes equal serial in every kernel configuration", "[kokkos][random]") {
  // sizes that are not multiples of any block or tile; K > one block for every packing
  // (H = 10 and I = 24 also take the register-row GEMV prologue on one-thread host teams)
  const ModelConfig cfgs[] = {odd_config(97, 40, 3, 72), odd_config(131, 200, 2, 520), odd_config(61, 10, 2, 24)};
  int seed = 0;
  for (const auto& cfg : cfgs) {
    TempDir dir("kokkos-rand");
    write_random_checkpoint(dir.path, cfg, DType::BF16, 1, 11 + seed);
    auto check_packing = [&]<class P>(P) {
      Model<SPol<P>> sm(io::load_checkpoint<P>(dir.path));
      Model<KPol<P>> km(io::load_checkpoint<P>(dir.path));
      for (index_t batch : {index_t(1), index_t(3)}) {
        const auto ids = some_ids(batch * 9, cfg.vocab_size, seed);
        const auto [sfull, sstep] = run_model(sm, ids, batch, 4);
        kk::Options variants[7];
        variants[1].graphs = false;
        variants[2].plan.fuse = false;
        variants[3].plan.gemv = false;
        variants[3].plan.small_tile_rows = 0;
        variants[4].plan.gemm_tile = 1, variants[4].plan.gemv_rows_per_group = 1, variants[4].plan.tensor_cores = false;
        // (GPUs: 256-thread GEMV teams whose first 64 threads hold the prologue's row; chained
        // GEMVs elsewhere, one row per group in variant 4)
        variants[5].plan.gemm_tile = 2, variants[5].plan.gemv_rows_per_group = 2;
        variants[5].plan.gemv_team = kk::SpaceTraits<KBackend::execution_space>::gpu ? 256 : 0;
        variants[5].plan.gemv_prologue_threads = 64, variants[5].plan.prefetch = false;
        variants[5].plan.gemv_chain = false;  // the fused GEMV that recomputes its prologue in every team
        variants[5].plan.gemv_epilogues = false;  // ... including the GLU
        variants[4].plan.gemv_chain = true;   // the GEMV chain (input quantised once)
        variants[6].profile = true, variants[6].plan.gemm_tile = 0, variants[6].plan.tensor_cores = false;
        variants[6].plan.gemv_rows_per_group = 8;  // (GPUs: several short rows a warp pass)
        for (int v = 0; v < 7; ++v) {
          INFO("packing " << P::name() << " H " << cfg.hidden_size << " batch " << batch << " variant " << v);
          const auto [kfull, kstep] = run_model(km, ids, batch, 4, kk::Context<KBackend::execution_space>({}, variants[v]));
          CHECK_BITS(kfull, sfull);
          CHECK_BITS(kstep, sstep);
        }
      }
    };
    check_packing(packing::I2{});
    check_packing(packing::I8{});
    check_packing(packing::TQ1{});
    ++seed;
  }
}

// Realistic sizes (the 370m shape's widths and vocabulary, two layers): many GEMV teams, the
// 32000-row lm_head, GEMM tiles in both directions. Hidden in CI (slow on a CPU); the GPU run
// names it: test_kokkos "[large]".
TEMPLATE_TEST_CASE("kokkos: 370m-wide random model equals serial", "[.][large]", packing::I2, packing::TQ1) {
  using P = TestType;
  ModelConfig cfg = preset_config("370m");
  cfg.num_layers = 2;
  Model<SPol<P>> sm(random_weights<P>(cfg, 21));
  Model<KPol<P>> km(random_weights<P>(cfg, 21));
  for (index_t batch : {index_t(1), index_t(4)}) {
    const auto ids = some_ids(batch * 12, cfg.vocab_size, 3);
    const auto [sfull, sstep] = run_model(sm, ids, batch, 8);
    const auto [kfull, kstep] = run_model(km, ids, batch, 8);
    INFO("batch " << batch);
    CHECK_BITS(kfull, sfull);
    CHECK_BITS(kstep, sstep);
  }
}

TEST_CASE("kokkos: decode steps replay one graph and stay bit-identical", "[kokkos][graph]") {
  const auto cfg = odd_config(97, 40, 3, 72);
  Model<SPol<packing::I2>> sm(random_weights<packing::I2>(cfg, 5));
  Model<KPol<packing::I2>> km(random_weights<packing::I2>(cfg, 5));
  auto sws = sm.make_workspace({.max_batch = 2, .max_chunk = 4});
  auto kws = km.make_workspace({.max_batch = 2, .max_chunk = 4});
  auto ss = sm.make_state(2);
  auto ks = km.make_state(2);
  std::vector<float> sl(std::size_t(2 * cfg.vocab_size)), kl(sl.size());
  for (int t = 0; t < 6; ++t) {
    const std::int32_t ids[2] = {std::int32_t(3 + 7 * t), std::int32_t(90 - 5 * t)};
    sm.step(sws, ss, ids, sl);
    km.step(kws, ks, ids, kl);
    INFO("step " << t);
    CHECK_BITS(kl, sl);
  }
  const auto& st = kws.context().stats();
  CHECK(st.programs == 6);
  CHECK(st.eager_programs == 1);
  CHECK(st.graph_builds == 1);
  CHECK(st.graph_replays == 5);
  // a decode step with a fused GEMV plan: a handful of launches per layer
  auto kws1 = km.make_workspace({.max_batch = 1, .max_chunk = 1});
  auto ks1 = km.make_state(1);
  std::vector<float> one(std::size_t(cfg.vocab_size));
  const std::int32_t id = 4;
  km.step(kws1, ks1, {&id, 1}, one);
  // (GEMV chain: +1, the first stage's input is quantised by a one-team launch, every later one
  // by the last team of the GEMV before it)
  const int chain = kk::PlanOptions{}.gemv_chain ? 1 : 0;
  CHECK(kws1.context().stats().last_launches == (km.host_embeddings() ? 0 : 1) + chain + 4 * int(cfg.num_layers) + 1);
  if (!chain) {  // each layer's i/f/g GEMV does the recurrence step, its gate/up GEMV the GLU, in
                 // their epilogues; no GEMV recomputes either in its prologue
    kk::Options prof;
    prof.profile = true;
    auto kws2 = km.make_workspace({.max_batch = 1, .max_chunk = 1}, kk::Context<KBackend::execution_space>({}, prof));
    km.step(kws2, ks1, {&id, 1}, one);
    long glu_epilogues = 0, glu_prologues = 0, scan_epilogues = 0, scan_prologues = 0;
    for (const auto& e : kws2.context().profile().entries) {
      if (e.label.find("->glu]") != std::string::npos) glu_epilogues += e.count;
      if (e.label.find("[gemv+glu") != std::string::npos) glu_prologues += e.count;
      if (e.label.find("->mlgru]") != std::string::npos) scan_epilogues += e.count;
      if (e.label.find("[gemv+scan") != std::string::npos) scan_prologues += e.count;
    }
    CHECK(glu_epilogues == cfg.num_layers);
    CHECK(glu_prologues == 0);
    CHECK(scan_epilogues == cfg.num_layers);
    CHECK(scan_prologues == 0);
  }
  // a different batch is a different program: planned again, still right
  sm.step(sws, ss, {&id, 1}, std::span<float>(sl.data(), std::size_t(cfg.vocab_size)));
  km.step(kws, ks, {&id, 1}, std::span<float>(kl.data(), std::size_t(cfg.vocab_size)));
  CHECK_BITS(std::vector<float>(kl.begin(), kl.begin() + cfg.vocab_size),
             std::vector<float>(sl.begin(), sl.begin() + cfg.vocab_size));
}

TEST_CASE("kokkos: decode graphs whose GEMVs start early stay bit-identical", "[kokkos][graph]") {
  using Ex = KBackend::execution_space;
  const auto cfg = odd_config(97, 40, 3, 72);
  Model<SPol<packing::I2>> sm(random_weights<packing::I2>(cfg, 6));
  Model<KPol<packing::I2>> km(random_weights<packing::I2>(cfg, 6));
  kk::Options variants[4];
  variants[1].programmatic = false;
  variants[2].plan.gemv_wave_percent = 50;
  variants[3].plan.gemv_wave_percent = 50;  // half-size teams at half a wave (host spaces: ignored)
  variants[3].plan.gemv_team = 512;
  for (int v = 0; v < 4; ++v) {
    INFO("variant " << v);
    auto sws = sm.make_workspace({.max_batch = 1, .max_chunk = 1});
    auto kws = km.make_workspace({.max_batch = 1, .max_chunk = 1}, kk::Context<Ex>({}, variants[v]));
    auto ss = sm.make_state(1);
    auto ks = km.make_state(1);
    std::vector<float> sl(std::size_t(cfg.vocab_size)), kl(sl.size());
    for (int t = 0; t < 5; ++t) {
      const std::int32_t id = std::int32_t(5 + 11 * t);
      sm.step(sws, ss, {&id, 1}, sl);
      km.step(kws, ks, {&id, 1}, kl);
      INFO("step " << t);
      CHECK_BITS(kl, sl);
    }
    const auto& st = kws.context().stats();
    CHECK(st.graph_builds == 1);
    // every launch of the step but the first is a GEMV that may start early (the first: the
    // embedding, or on a host table the first GEMV, which follows no kernel)
    const bool early = variants[v].programmatic && kk::programmatic_launch_available<Ex>();
    CHECK(st.programmatic_edges == (early ? st.last_launches - 1 : 0));
  }
}

TEST_CASE("kokkos: alternating programs (prompt chunks, last chunk, decode) are each replayed", "[kokkos][graph]") {
  const auto cfg = odd_config(97, 40, 2, 72);
  Model<SPol<packing::I2>> sm(random_weights<packing::I2>(cfg, 7));
  Model<KPol<packing::I2>> km(random_weights<packing::I2>(cfg, 7));
  auto sws = sm.make_workspace({.max_batch = 1, .max_chunk = 4});
  auto kws = km.make_workspace({.max_batch = 1, .max_chunk = 4});
  std::vector<float> sl(std::size_t(cfg.vocab_size)), kl(sl.size());
  std::vector<std::int32_t> prompt(11);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = std::int32_t((i * 13 + 5) % 97);
  auto ss = sm.make_state(1);
  auto ks = km.make_state(1);
  kk::ContextStats before;
  for (int rep = 0; rep < 3; ++rep) {  // chunks of 4, 4, 3 tokens, then two steps
    if (rep == 2) before = kws.context().stats();
    ss.reset();
    ks.reset();
    sm.prefill(sws, ss, prompt, 1, sl, Logits::last);
    km.prefill(kws, ks, prompt, 1, kl, Logits::last);
    INFO("rep " << rep);
    CHECK_BITS(kl, sl);
    for (std::int32_t id : {3, 44}) {
      sm.step(sws, ss, {&id, 1}, sl);
      km.step(kws, ks, {&id, 1}, kl);
      CHECK_BITS(kl, sl);
    }
  }
  // three programs (full chunk, last chunk, step), each planned once: by the third repetition
  // all five passes are graph replays (nothing planned or captured again)
  const auto& st = kws.context().stats();
  CHECK(st.programs == 15);
  CHECK(st.eager_programs == 3);
  CHECK(st.graph_builds == before.graph_builds);
  CHECK(st.graph_replays == before.graph_replays + 5);
}

TEST_CASE("kokkos: state save/load and reset work on backend memory", "[kokkos]") {
  const auto cfg = odd_config(97, 40, 2, 72);
  Model<KPol<packing::I2>> km(random_weights<packing::I2>(cfg, 9));
  auto ws = km.make_workspace({.max_batch = 1, .max_chunk = 8});
  auto st = km.make_state(1);
  std::vector<float> a(std::size_t(cfg.vocab_size)), b(a.size());
  const std::vector<std::int32_t> prompt{5, 9, 13};
  km.prefill(ws, st, prompt, 1, a, Logits::last);
  std::vector<float> saved(std::size_t(st.floats_per_sequence()));
  st.save_sequence(0, saved);
  const std::int32_t next = 21;
  km.step(ws, st, {&next, 1}, a);
  st.load_sequence(0, saved);
  km.step(ws, st, {&next, 1}, b);
  CHECK(a == b);
  st.reset();
  km.prefill(ws, st, prompt, 1, a, Logits::last);
  auto st2 = km.make_state(1);
  km.prefill(ws, st2, prompt, 1, b, Logits::last);
  CHECK(a == b);
}

int main(int argc, char** argv) {
  Kokkos::ScopeGuard kokkos(argc, argv);
  return Catch::Session().run(argc, argv);
}
