// SPDX-License-Identifier: MIT
// backend::Simd against the serial oracle: every path this CPU has x packing x mode (prefill,
// step), on the golden tiny-a model and on random models with odd sizes, for several thread
// counts. Integer sums are exact and the float steps repeat the oracle's operations, so the
// logits must be bit-identical.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
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

using SerialI8 = Policy<packing::I8, act::Int8, backend::Serial>;
template <class P>
using SimdPol = Policy<P, act::Int8, backend::Simd>;

/// Thread counts of the kernel tests (results must not depend on them; 3 splits unevenly).
constexpr int thread_counts[] = {1, 2, 3};
/// Thread counts of the whole-model tests (each kernel split as finely as it can be with 2).
constexpr int model_thread_counts[] = {1, 2};

backend::Simd::context_type context(simd::Path path, int threads) {
  return backend::Simd::context_type(simd::Options{threads, path, 1});  // min work 1: split every kernel
}

std::string label(simd::Path p, int threads) {
  return std::string(simd::path_name(p)) + " x" + std::to_string(threads);
}

/// Runs ctx.parallel_for over [0, n) (chunk borders at multiples of `align`) and returns how many
/// items did not run exactly once plus how many chunks began off a border. The counts go through
/// atomics: worker threads must not call Catch2's assertions.
index_t pool_errors(simd::Context& ctx, index_t n, index_t align) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
  std::atomic<index_t> misaligned{0};
  ctx.parallel_for(n, align, 1, [&](int, index_t b, index_t e) {
    if (b % align != 0) misaligned.fetch_add(1, std::memory_order_relaxed);
    for (index_t i = b; i < e; ++i) hits[std::size_t(i)].fetch_add(1, std::memory_order_relaxed);
  });
  index_t errors = misaligned.load();
  for (const auto& h : hits) errors += h.load() != 1;
  return errors;
}

/// Logits of `ids` ([batch, T]) for prefill (Logits::all, chunked) and for token-by-token steps.
struct Run {
  std::vector<float> prefill, step;
};
template <class Pol>
Run run_model(const Model<Pol>& m, typename Pol::backend::context_type ctx, const std::vector<std::int32_t>& ids,
              index_t batch, index_t chunk) {
  const index_t V = m.config().vocab_size, T = index_t(ids.size()) / batch;
  auto ws = m.make_workspace({.max_batch = batch, .max_chunk = chunk}, std::move(ctx));
  Run out;
  out.prefill.resize(std::size_t(batch * T * V));
  auto st = m.make_state(batch);
  m.prefill(ws, st, ids, batch, out.prefill, Logits::all);
  out.step.resize(out.prefill.size());
  auto st2 = m.make_state(batch);
  std::vector<std::int32_t> tok(static_cast<std::size_t>(batch));
  std::vector<float> one(static_cast<std::size_t>(batch * V));
  for (index_t t = 0; t < T; ++t) {
    for (index_t b = 0; b < batch; ++b) tok[std::size_t(b)] = ids[std::size_t(b * T + t)];
    m.step(ws, st2, tok, one);
    for (index_t b = 0; b < batch; ++b) std::copy_n(one.begin() + b * V, V, out.step.begin() + (b * T + t) * V);
  }
  return out;
}

}  // namespace

TEST_CASE("paths: detection, names, errors", "[simd]") {
  const auto paths = simd::supported_paths();
  REQUIRE(!paths.empty());
  CHECK(paths.front() == simd::Path::scalar);
  CHECK(simd::path_supported(simd::best_path()));
  for (int i = 0; i <= simd::path_count; ++i) CHECK(simd::parse_path(simd::path_name(simd::Path(i))) == simd::Path(i));
  CHECK_THROWS_AS(simd::parse_path("sse9"), Error);
  CHECK_THROWS_AS(simd::Context(simd::Options{0}), Error);
  CHECK(simd::Context().path() == simd::best_path());
  for (int i = 0; i < simd::path_count; ++i) {
    const auto p = simd::Path(i);
    if (!simd::path_supported(p)) CHECK_THROWS_AS(simd::kernel_table(p), Error);
  }
  // a path pinned in the type: runs that path, refuses another
  backend::SimdOn<simd::Path::scalar>::context_type pinned(2);
  CHECK(pinned.path() == simd::Path::scalar);
  CHECK(pinned.threads() == 2);
  if (simd::best_path() != simd::Path::scalar)
    CHECK_THROWS_AS(backend::SimdOn<simd::Path::scalar>::context_type(simd::Options{1, simd::best_path()}), Error);
  INFO("this CPU: best path " << simd::path_name(simd::best_path()));
  CHECK(std::string(backend::Simd::name()) == "simd");
}

TEST_CASE("thread pool: every item once, chunk borders aligned, any thread count", "[simd]") {
  for (int threads : {1, 2, 3, 5}) {
    simd::Context ctx(simd::Options{threads, simd::Path::scalar, 1});
    for (index_t n : {1, 7, 64, 1000}) {
      for (index_t align : {1, 16}) {
        INFO("threads " << threads << " n " << n << " align " << align);
        CHECK(pool_errors(ctx, n, align) == 0);
      }
    }
  }
}

TEST_CASE("thread pool: back-to-back jobs of changing chunk counts neither hang nor run a chunk twice", "[simd]") {
  // Regression: a worker finishing job A could pair A's ticket with job B's chunk count and claim
  // a chunk of B that another thread also ran; B's count of finished chunks then overshot and
  // the caller waited forever. More threads than cores and changing chunk counts provoke it.
  simd::Context ctx(simd::Options{5, simd::Path::scalar, 1});
  int bad_jobs = 0;
  for (int rep = 0; rep < 8000; ++rep)
    for (index_t n : {index_t(5), index_t(4000), index_t(2), index_t(300), index_t(4096)})
      bad_jobs += pool_errors(ctx, n, 1) != 0;
  CHECK(bad_jobs == 0);
}

TEST_CASE("TQ1 digit extraction used by the x86 kernels is exact for every byte", "[simd][packing]") {
  // digit(m) = avg(m-1, avg(m-1, 0)) >> 6 (8-bit saturating/rounding ops) must equal (3 m) >> 8
  for (int m = 0; m < 256; ++m) {
    const int x = m > 0 ? m - 1 : 0;
    const int a = (x + 0 + 1) >> 1;
    const int y = (x + a + 1) >> 1;
    CHECK(((y >> 6) & 3) == ((3 * m) >> 8));
  }
}

/// A random [N, K] ternary matrix packed with P (and its input-norm weight).
template <class P>
struct RandomMatrix {
  std::vector<std::uint8_t> codes;
  std::vector<float> norm;
  TernaryWeights<P> w;
  RandomMatrix(index_t N, index_t K, std::uint64_t seed) {
    mmfree_test::Rng rng(seed);
    const index_t rb = packed_row_bytes<P>(K);
    codes.resize(std::size_t(N * rb));
    norm.resize(std::size_t(K));
    std::vector<std::int8_t> t(static_cast<std::size_t>(K));
    for (index_t n = 0; n < N; ++n) {
      for (auto& v : t) v = std::int8_t(int(rng.next() % 3) - 1);
      P::pack_row(t.data(), K, codes.data() + n * rb);
    }
    for (auto& v : norm) v = 1.0f + 0.5f * rng.uniform();
    w.codes = codes.data();
    w.norm = norm.data();
    w.rows = N;
    w.cols = K;
    w.row_bytes = rb;
    w.w_scale = 37.5f;
  }
};

TEMPLATE_TEST_CASE("BitLinear on every path equals the oracle (odd shapes, GEMV and GEMM)", "[simd][kernel]",
                   packing::I8, packing::I2, packing::TQ1) {
  using P = TestType;
  using Ser = Policy<P, act::Int8, backend::Serial>;
  // K and N not multiples of 16/64/256 or of any tile; 1 token (GEMV) to 7 (GEMM with a tail)
  for (const auto& [N, K] : {std::pair<index_t, index_t>{37, 50}, {130, 333}, {67, 1000}, {5, 3000}}) {
    const RandomMatrix<P> mat(N, K, std::uint64_t(N * 1000 + K));
    const ModelConfig cfg = odd_config(17, K, 1, K);
    mmfree_test::Rng rng{std::uint64_t(K)};
    for (index_t R : {1, 2, 3, 4, 7}) {
      std::vector<float> x(std::size_t(R * K));
      for (auto& v : x) v = 3.0f * rng.uniform();
      x[0] = 40.0f;  // an outlier sets the first row's scale
      std::vector<float> want(std::size_t(R * N)), got(want.size());
      Workspace<Ser> ows(cfg, {.max_batch = R, .max_chunk = 1});
      BitLinear<Ser>(mat.w).forward(ows.context(), ConstMatrixView<float>(x.data(), R, K),
                                    MatrixView<float>(want.data(), R, N), ows.act_scratch());
      for (simd::Path path : simd::supported_paths())
        for (int threads : thread_counts) {
          Workspace<SimdPol<P>> ws(cfg, {.max_batch = R, .max_chunk = 1}, context(path, threads));
          std::fill(got.begin(), got.end(), -1.0f);
          BitLinear<SimdPol<P>>(mat.w).forward(ws.context(), ConstMatrixView<float>(x.data(), R, K),
                                               MatrixView<float>(got.data(), R, N), ws.act_scratch());
          INFO(P::name() << " " << label(path, threads) << " N=" << N << " K=" << K << " R=" << R);
          CHECK(got == want);
        }
    }
  }
}

TEST_CASE("I2 with every byte value (code 3 = corrupt data) and extreme activations equals the oracle", "[simd][kernel]") {
  // The GEMV decodes two of the four bit pairs without shifting them (scaled by 4) and keeps
  // int16 partial sums: their bounds must hold for code 3 and full-scale activations too.
  using P = packing::I2;
  using Ser = Policy<P, act::Int8, backend::Serial>;
  const index_t N = 13, K = 2000;  // 16 groups of 128 and a tail
  RandomMatrix<P> mat(N, K, 99);
  mmfree_test::Rng rng(7);
  for (auto& b : mat.codes) b = std::uint8_t(rng.next());
  std::fill_n(mat.codes.begin(), packed_row_bytes<P>(K), std::uint8_t(0xFF));  // row 0: code 3 everywhere
  std::fill(mat.norm.begin(), mat.norm.end(), 1.0f);  // then x = +-1 quantises to codes +-127
  const ModelConfig cfg = odd_config(17, K, 1, K);
  for (int pattern = 0; pattern < 3; ++pattern) {
    std::vector<float> x(std::size_t(2 * K));
    for (std::size_t k = 0; k < x.size(); ++k)  // all +1, all -1, alternating: every code is +-127
      x[k] = pattern == 0 ? 1.0f : pattern == 1 ? -1.0f : (k % 2 ? 1.0f : -1.0f);
    for (index_t R : {1, 2}) {
      std::vector<float> want(std::size_t(R * N)), got(want.size());
      Workspace<Ser> ows(cfg, {.max_batch = R, .max_chunk = 1});
      BitLinear<Ser>(mat.w).forward(ows.context(), ConstMatrixView<float>(x.data(), R, K),
                                    MatrixView<float>(want.data(), R, N), ows.act_scratch());
      for (simd::Path path : simd::supported_paths())
        for (int threads : thread_counts) {
          Workspace<SimdPol<P>> ws(cfg, {.max_batch = R, .max_chunk = 1}, context(path, threads));
          BitLinear<SimdPol<P>>(mat.w).forward(ws.context(), ConstMatrixView<float>(x.data(), R, K),
                                               MatrixView<float>(got.data(), R, N), ws.act_scratch());
          INFO(label(path, threads) << " pattern " << pattern << " R=" << R);
          CHECK(got == want);
        }
    }
  }
}

TEST_CASE("norms, MLGRU scan, GLU and add equal the oracle on every path, including extreme values", "[simd]") {
  const index_t H = 75, R = 6, T = 3, B = 2;  // R = B * T rows
  mmfree_test::Rng rng(5);
  auto fill = [&](std::vector<float>& v, float scale) {
    for (auto& e : v) e = scale * rng.uniform();
  };
  std::vector<float> x(static_cast<std::size_t>(R * H)), s(x.size()), w(static_cast<std::size_t>(H)),
      lb(static_cast<std::size_t>(H)), u(static_cast<std::size_t>(R * 2 * H));
  fill(x, 4.0f);
  fill(s, 30.0f);
  fill(w, 1.0f);
  fill(lb, 0.5f);
  fill(u, 12.0f);
  // exp's special ranges: overflow, underflow, subnormal results, huge arguments, nan
  const float special[] = {88.0f, 88.8f, -87.0f, -103.0f, -104.0f, -150.0f, 1e30f, -1e30f, 0.0f, -0.0f,
                           std::numeric_limits<float>::quiet_NaN(), 1e-30f};
  for (std::size_t i = 0; i < std::size(special); ++i) s[i * 5] = special[i], u[i * 7] = special[i];
  for (auto& v : lb) v = std::fabs(v);

  backend::Serial::context_type serial;
  using SK = detail::Kernels<backend::Serial>;
  using K = detail::Kernels<backend::Simd>;
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
      if (!both_nan && std::memcmp(&a[i], &b[i], 4) != 0) return false;
    }
    return true;
  };
  for (simd::Path path : simd::supported_paths())
    for (int threads : thread_counts) {
      backend::Simd::context_type ctx(simd::Options{threads, path, 1});
      INFO(label(path, threads));
      std::vector<float> a(x.size()), b(x.size());
      SK::rmsnorm(serial, ConstMatrixView<float>(x.data(), R, H), w.data(), 1e-6f, MatrixView<float>(a.data(), R, H));
      K::rmsnorm(ctx, ConstMatrixView<float>(x.data(), R, H), w.data(), 1e-6f, MatrixView<float>(b.data(), R, H));
      CHECK(same(a, b));

      SK::gated_norm(serial, ConstMatrixView<float>(x.data(), R, H), ConstMatrixView<float>(s.data(), R, H), w.data(),
                     1e-6f, MatrixView<float>(a.data(), R, H));
      K::gated_norm(ctx, ConstMatrixView<float>(x.data(), R, H), ConstMatrixView<float>(s.data(), R, H), w.data(),
                    1e-6f, MatrixView<float>(b.data(), R, H));
      CHECK(same(a, b));

      for (const float* lbp : {static_cast<const float*>(nullptr), static_cast<const float*>(lb.data())}) {
        std::vector<float> i1 = s, i2 = s, st1(std::size_t(B * H)), st2(st1.size());
        fill(st1, 1.0f);
        st2 = st1;
        SK::mlgru_scan(serial, MatrixView<float>(i1.data(), R, H), ConstMatrixView<float>(x.data(), R, H), lbp,
                       MatrixView<float>(st1.data(), B, H), B, T);
        K::mlgru_scan(ctx, MatrixView<float>(i2.data(), R, H), ConstMatrixView<float>(x.data(), R, H), lbp,
                      MatrixView<float>(st2.data(), B, H), B, T);
        CHECK(same(i1, i2));
        CHECK(same(st1, st2));
      }

      for (index_t rows : {index_t(1), R}) {
        std::vector<float> v1(std::size_t(rows * H)), v2(v1.size());
        SK::glu(serial, ConstMatrixView<float>(u.data(), rows, 2 * H), MatrixView<float>(v1.data(), rows, H));
        K::glu(ctx, ConstMatrixView<float>(u.data(), rows, 2 * H), MatrixView<float>(v2.data(), rows, H));
        CHECK(same(v1, v2));
        std::vector<float> h1(x.begin(), x.begin() + rows * H), h2 = h1;
        SK::add(serial, MatrixView<float>(h1.data(), rows, H), ConstMatrixView<float>(s.data(), rows, H));
        K::add(ctx, MatrixView<float>(h2.data(), rows, H), ConstMatrixView<float>(s.data(), rows, H));
        CHECK(same(h1, h2));
      }
    }
}

namespace {

struct GoldenModel {
  std::filesystem::path dir = golden_dir() / "tiny-a" / "model";
  io::SafetensorsFile expected = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
};

template <class P>
void check_model(const std::function<HostWeights(void)>& load, const Run& want, const std::vector<std::int32_t>& ids,
                 index_t batch, index_t chunk) {
  const Model<SimdPol<P>> m(load());
  for (simd::Path path : simd::supported_paths())
    for (int threads : model_thread_counts) {
      const Run got = run_model(m, context(path, threads), ids, batch, chunk);
      INFO(P::name() << " " << label(path, threads) << " prefill max-rel " << max_rel(got.prefill, want.prefill)
                     << ", step max-rel " << max_rel(got.step, want.step));
      CHECK(got.prefill == want.prefill);
      CHECK(got.step == want.step);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("golden tiny-a: every path gives the oracle's logits, prefill and step", "[simd][golden]",
                   packing::I8, packing::I2, packing::TQ1) {
  using P = TestType;
  const GoldenModel g;
  const auto ids = ids_of(g.expected);
  const index_t B = 2;
  const Model<SerialI8> ref(io::load_checkpoint<packing::I8>(g.dir));
  const Run want = run_model(ref, {}, ids, B, 5);
  // the oracle itself against upstream (as test_model does), so this test also pins the data
  CHECK(mean_rel(want.prefill, as_f32(g.expected.get("logits"))) <= 4e-3);
  check_model<P>([&] { return io::load_checkpoint<P>(g.dir); }, want, ids, B, 5);
  // one sequence: decode steps take the one-token (GEMV) kernels
  const std::vector<std::int32_t> first(ids.begin(), ids.begin() + std::ptrdiff_t(ids.size() / 2));
  check_model<P>([&] { return io::load_checkpoint<P>(g.dir); }, run_model(ref, {}, first, 1, 16), first, 1, 16);
}

TEMPLATE_TEST_CASE("random odd-sized models: every path gives the oracle's logits", "[simd][model]", packing::I8,
                   packing::I2, packing::TQ1) {
  using P = TestType;
  // sizes that are multiples of none of 16 / 64 / 128 / 160 / 256
  for (const auto& cfg : {odd_config(97, 40, 3, 72), odd_config(301, 148, 2, 300)}) {
    TempDir dir("simd");
    write_random_checkpoint(dir.path, cfg, DType::BF16, 1, 17);
    std::vector<std::int32_t> ids;
    const index_t B = 3, T = 9;
    for (index_t i = 0; i < B * T; ++i) ids.push_back(std::int32_t((i * 37 + 5) % cfg.vocab_size));
    const Model<SerialI8> ref(io::load_checkpoint<packing::I8>(dir.path));
    check_model<P>([&] { return io::load_checkpoint<P>(dir.path); }, run_model(ref, {}, ids, B, 4), ids, B, 4);
    const std::vector<std::int32_t> one(ids.begin(), ids.begin() + T);  // batch 1: GEMV steps
    check_model<P>([&] { return io::load_checkpoint<P>(dir.path); }, run_model(ref, {}, one, 1, 4), one, 1, 4);
  }
}
