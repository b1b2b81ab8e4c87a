// SPDX-License-Identifier: MIT
// CPU microbenchmarks: ternary BitLinear (GEMV: one token, GEMM: a prefill chunk) per packing x
// SIMD path x matrix shape of the 370M / 1.3B / 2.7B models, 1 and N threads; the same shapes as a
// dense f32 matrix product through Eigen (the MatMul baseline); and a read-bandwidth probe.
//
// Names: BitLinear/<packing>/int8/<path>/<N>x<K>[/tokens:T]/threads:n, MatMul/f32/eigen/<N>x<K>[/tokens:T],
// ReadBandwidth/<MB>MB/threads:n. Counters: GB/s of weights read, GMAC/s.
// BitLinear is the whole layer a model runs (RMSNorm + int8 quantisation + ternary product);
// one-token benchmarks cycle through copies of the weights larger than the L3 cache, as decode
// streams its weights from memory.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <Eigen/Dense>
#include <benchmark/benchmark.h>
#include <mmfree/mmfree.hpp>

namespace {

using mmfree::index_t;

/// A BitLinear shape: N outputs, K inputs, and which model has it.
struct Shape {
  index_t n, k;
};

/// The distinct BitLinear shapes of the published models (i/f/g/o, gate, down, lm_head).
std::vector<Shape> model_shapes() {
  std::vector<Shape> v;
  for (const char* name : {"370m", "1.3b", "2.7b"}) {
    const auto c = mmfree::preset_config(name);
    const index_t H = c.hidden_size, I = c.intermediate_size;
    for (Shape s : {Shape{H, H}, Shape{2 * I, H}, Shape{H, I}, Shape{c.vocab_size, H}}) v.push_back(s);
  }
  return v;
}

std::string shape_name(Shape s) { return std::to_string(s.n) + "x" + std::to_string(s.k); }

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int hardware_threads() { return std::max(1, int(std::thread::hardware_concurrency())); }

/// Copies of a weight matrix of `bytes` to cycle through so that they do not fit in the last-level
/// cache: every iteration then reads its weights from memory, as a decode step does.
index_t copies_for(index_t bytes) {
  const index_t streamed = index_t(96) << 20;  // > 32 MiB L3 here, and than most desktop L3s
  return std::max<index_t>(1, (streamed + bytes - 1) / bytes);
}

/// Random packed ternary weights of a shape (several copies, see copies_for), a norm weight,
/// activations and scratch.
template <class P>
struct Problem {
  std::vector<std::uint8_t> codes;
  std::vector<float> norm, x, y;
  mmfree::Buffer<std::int8_t, mmfree::HostSpace> act;
  mmfree::Buffer<float, mmfree::HostSpace> scales;
  mmfree::Buffer<std::int32_t, mmfree::HostSpace> sums;
  std::vector<mmfree::TernaryWeights<P>> w;  // one per copy
  index_t tokens;

  Problem(Shape s, index_t tokens_) : tokens(tokens_) {
    const index_t rb = mmfree::packed_row_bytes<P>(s.k);
    const index_t copies = tokens == 1 ? copies_for(s.n * rb) : 1;  // a GEMM reuses its weights anyway
    codes.resize(std::size_t(copies * s.n * rb));
    std::vector<std::int8_t> t(static_cast<std::size_t>(s.k));
    std::uint64_t seed = 42;
    for (index_t r = 0; r < s.n; ++r) {
      std::uint64_t bits = 0;
      for (index_t k = 0; k < s.k; ++k) {
        if (k % 21 == 0) bits = splitmix(seed);
        t[std::size_t(k)] = std::int8_t(int((bits & 7u) % 3u) - 1);
        bits >>= 3;
      }
      P::pack_row(t.data(), s.k, codes.data() + r * rb);
    }
    norm.assign(std::size_t(s.k), 1.0f);
    x.resize(std::size_t(tokens * s.k));
    for (auto& v : x) v = float(double(splitmix(seed) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    y.resize(std::size_t(tokens * s.n));
    act = decltype(act)(tokens * mmfree::padded_cols<P>(s.k));
    scales = decltype(scales)(tokens);
    sums = decltype(sums)(tokens);
    for (index_t c = 1; c < copies; ++c)
      std::copy_n(codes.begin(), s.n * rb, codes.begin() + c * s.n * rb);
    for (index_t c = 0; c < copies; ++c) w.push_back({codes.data() + c * s.n * rb, norm.data(), s.n, s.k, rb, 30.0f});
  }
  mmfree::ActScratch scratch() const { return {act.data(), scales.data(), sums.data(), act.size(), tokens}; }
};

template <class P, mmfree::simd::Path Path>
void bm_bitlinear(benchmark::State& st, Shape s, index_t tokens, int threads) {
  using Pol = mmfree::Policy<P, mmfree::act::Int8, mmfree::backend::SimdOn<Path>>;
  if (!mmfree::simd::path_supported(Path)) {
    st.SkipWithError("this CPU lacks the path");
    return;
  }
  Problem<P> pr(s, tokens);
  typename Pol::backend::context_type ctx(threads);
  std::vector<mmfree::BitLinear<Pol>> layers;
  for (const auto& w : pr.w) layers.emplace_back(w);
  const mmfree::ConstMatrixView<float> x(pr.x.data(), tokens, s.k);
  const mmfree::MatrixView<float> y(pr.y.data(), tokens, s.n);
  std::size_t c = 0;
  for (auto _ : st) {
    layers[c].forward(ctx, x, y, pr.scratch());
    c = c + 1 == layers.size() ? 0 : c + 1;
    benchmark::DoNotOptimize(pr.y.data());
    benchmark::ClobberMemory();
  }
  const double bytes = double(s.n * mmfree::packed_row_bytes<P>(s.k));
  st.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  st.counters["GMAC/s"] = benchmark::Counter(double(s.n * s.k * tokens) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_eigen(benchmark::State& st, Shape s, index_t tokens) {
  // dense f32 weights, row-major like ours: y[t] = W x[t]
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<Mat> w(std::size_t(tokens == 1 ? copies_for(s.n * s.k * 4) : 1));
  for (auto& m : w) m = Mat::Random(s.n, s.k);
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(s.k, tokens), y(s.n, tokens);
  std::size_t c = 0;
  for (auto _ : st) {
    if (tokens == 1)
      y.col(0).noalias() = w[c] * x.col(0);
    else
      y.noalias() = w[c] * x;
    c = c + 1 == w.size() ? 0 : c + 1;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.counters["GB/s"] = benchmark::Counter(double(s.n * s.k) * 4.0, benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
  st.counters["GMAC/s"] = benchmark::Counter(double(s.n * s.k * tokens) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_read(benchmark::State& st, index_t bytes, int threads) {
  mmfree::Buffer<std::uint8_t, mmfree::HostSpace> buf(bytes);
  std::memset(buf.data(), 1, std::size_t(bytes));
  mmfree::simd::Context ctx(mmfree::simd::Options{threads});
  const auto read = ctx.kernels().read_sum;
  std::uint64_t part[1024] = {};
  for (auto _ : st) {
    ctx.parallel_for(bytes / 4096, 1, 1, [&](int t, index_t b, index_t e) {
      part[t] += read(buf.data() + b * 4096, (e - b) * 4096);
    });
    benchmark::DoNotOptimize(part);
  }
  st.counters["GB/s"] = benchmark::Counter(double(bytes), benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
}

#if defined(__AVX2__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/// Throughput of vpmaddubsw + vpaddw in registers (the instructions of the AVX2 GEMM): the
/// compute floor of prefill on this CPU. Written in asm so that nothing is folded or spilled:
/// 8 independent products a step into 4 accumulators, 32 multiply-adds each.
void bm_peak_maddubs(benchmark::State& st) {
  constexpr int inner = 1024;
  for (auto _ : st) {
    int n = inner;
    __asm__ volatile(
        "vpcmpeqb %%ymm4, %%ymm4, %%ymm4\n\t"
        "vpabsb %%ymm4, %%ymm4\n\t"  // 1s
        "vpaddb %%ymm4, %%ymm4, %%ymm5\n\t"
        "vpaddb %%ymm4, %%ymm5, %%ymm6\n\t"
        "vpaddb %%ymm4, %%ymm6, %%ymm7\n\t"
        "vmovdqa %%ymm6, %%ymm8\n\t"
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
        "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
        "vpxor %%ymm2, %%ymm2, %%ymm2\n\t"
        "vpxor %%ymm3, %%ymm3, %%ymm3\n\t"
        "1:\n\t"
        "vpmaddubsw %%ymm8, %%ymm4, %%ymm9\n\t"
        "vpmaddubsw %%ymm8, %%ymm5, %%ymm10\n\t"
        "vpmaddubsw %%ymm8, %%ymm6, %%ymm11\n\t"
        "vpmaddubsw %%ymm8, %%ymm7, %%ymm12\n\t"
        "vpaddw %%ymm9, %%ymm0, %%ymm0\n\t"
        "vpaddw %%ymm10, %%ymm1, %%ymm1\n\t"
        "vpaddw %%ymm11, %%ymm2, %%ymm2\n\t"
        "vpaddw %%ymm12, %%ymm3, %%ymm3\n\t"
        "vpmaddubsw %%ymm8, %%ymm4, %%ymm13\n\t"
        "vpmaddubsw %%ymm8, %%ymm5, %%ymm14\n\t"
        "vpmaddubsw %%ymm8, %%ymm6, %%ymm15\n\t"
        "vpmaddubsw %%ymm8, %%ymm7, %%ymm9\n\t"
        "vpaddw %%ymm13, %%ymm0, %%ymm0\n\t"
        "vpaddw %%ymm14, %%ymm1, %%ymm1\n\t"
        "vpaddw %%ymm15, %%ymm2, %%ymm2\n\t"
        "vpaddw %%ymm9, %%ymm3, %%ymm3\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [n] "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "cc");
  }
  // With several threads Google Benchmark sums the counter over threads and also multiplies it by
  // the iterations of all threads: dividing by the thread count gives the total rate.
  st.counters["GMAC/s"] = benchmark::Counter(8.0 * 32 * inner / 1e9 / st.threads(),
                                             benchmark::Counter::kIsIterationInvariantRate);
}
#endif

/// Prefill chunk used for the GEMM benchmarks.
constexpr index_t gemm_tokens = 128;

template <class P, mmfree::simd::Path Path>
void register_path(const std::vector<Shape>& shapes, const std::vector<int>& threads) {
  if (!mmfree::simd::path_supported(Path)) return;  // only what this CPU runs
  for (Shape s : shapes)
    for (index_t tokens : {index_t(1), gemm_tokens})
      for (int t : threads) {
        std::string name = "BitLinear/" + std::string(P::name()) + "/int8/" + std::string(mmfree::simd::path_name(Path)) +
                           "/" + shape_name(s);
        if (tokens > 1) name += "/tokens:" + std::to_string(tokens);
        name += "/threads:" + std::to_string(t);
        benchmark::RegisterBenchmark(name.c_str(), bm_bitlinear<P, Path>, s, tokens, t)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
}

template <class P>
void register_packing(const std::vector<Shape>& shapes, const std::vector<int>& threads) {
  using mmfree::simd::Path;
  register_path<P, Path::scalar>(shapes, threads);
  register_path<P, Path::avx2>(shapes, threads);
  register_path<P, Path::avx_vnni>(shapes, threads);
  register_path<P, Path::avx512bw>(shapes, threads);
  register_path<P, Path::avx512_vnni>(shapes, threads);
  register_path<P, Path::neon>(shapes, threads);
  register_path<P, Path::neon_dotprod>(shapes, threads);
}

}  // namespace

int main(int argc, char** argv) {
  const auto shapes = model_shapes();
  std::vector<int> threads = {1};
  if (hardware_threads() > 1) threads.push_back(hardware_threads());
  register_packing<mmfree::packing::I2>(shapes, threads);
  register_packing<mmfree::packing::TQ1>(shapes, threads);
  register_packing<mmfree::packing::I8>(shapes, threads);
  for (Shape s : shapes)
    for (index_t tokens : {index_t(1), gemm_tokens}) {
      std::string name = "MatMul/f32/eigen/" + shape_name(s);
      if (tokens > 1) name += "/tokens:" + std::to_string(tokens);
      benchmark::RegisterBenchmark(name.c_str(), bm_eigen, s, tokens)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
#if defined(__AVX2__) && (defined(__GNUC__) || defined(__clang__))
  benchmark::RegisterBenchmark("PeakInt8MAC/vpmaddubsw/threads:1", bm_peak_maddubs)->Unit(benchmark::kMicrosecond);
  // every core at once (the counter is the sum over threads, per second of real time): the
  // compute ceiling of prefill on all cores
  if (hardware_threads() > 1)
    benchmark::RegisterBenchmark("PeakInt8MAC/vpmaddubsw", bm_peak_maddubs)
        ->Threads(hardware_threads())
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
#endif
  for (const char* m : {"370m", "1.3b", "2.7b"}) {
    const auto c = mmfree::preset_config(m);
    const index_t bytes = (c.ternary_params() / 4 + 4095) / 4096 * 4096;  // 2-bit weights of the model
    for (int t : threads)
      benchmark::RegisterBenchmark(("ReadBandwidth/" + std::to_string(bytes / 1000000) + "MB/threads:" + std::to_string(t)).c_str(),
                                   bm_read, bytes, t)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
