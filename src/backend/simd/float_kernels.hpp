// SPDX-License-Identifier: MIT
// The float steps of backend::Simd on xsimd batches: RMS, quantiser, norms, MLGRU scan, GLU.
// Each one repeats the scalar oracle (core/quantize.hpp, core/math.hpp, backend/reference/
// row_kernels.hpp) operation by operation -- same constants, same order, fused multiply-adds
// exactly where the oracle calls ::fmaf -- so every lane gets the oracle's bits. The TU is built
// with -ffp-contract=off so the compiler adds no fusions of its own.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#include "compat.hpp"
#include "mmfree/backend/simd/kernel_table.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
namespace MMFREE_SIMD_NS {

template <class A>
struct FloatKernels {
  using F = xsimd::batch<float, A>;
  using I = xsimd::batch<std::int32_t, A>;
  static constexpr index_t L = index_t(F::size);

  // ---- math.hpp, lane by lane ---------------------------------------------------------------

  /// math::exp.
  static F exp(F x) {
    using compat::fmadd;
    const F n = compat::floor(fmadd(x, F(1.44269502162933349609375f), F(0.5f)));
    F r = fmadd(-n, F(0.693145751953125f), x);
    r = fmadd(-n, F(1.428606765330187045e-06f), r);
    F p(1.9841269841e-4f);
    p = fmadd(p, r, F(1.3888888889e-3f));
    p = fmadd(p, r, F(8.3333333333e-3f));
    p = fmadd(p, r, F(4.1666666667e-2f));
    p = fmadd(p, r, F(1.6666666667e-1f));
    p = fmadd(p, r, F(0.5f));
    p = fmadd(p, r, F(1.0f));
    p = fmadd(p, r, F(1.0f));
    // ni / 2 truncates toward zero in C++: trunc(n * 0.5) is that value, exactly.
    const F n1f = compat::trunc(n * F(0.5f));
    const I n1 = compat::to_int(n1f), n2 = compat::to_int(n - n1f);
    const F s1 = compat::bitcast<float>((n1 + I(127)) << 23);
    const F s2 = compat::bitcast<float>((n2 + I(127)) << 23);
    F res = (p * s1) * s2;
    res = xsimd::select(x < F(-103.278929903f), F(0.0f), res);
    res = xsimd::select(x > F(88.72283935546875f), F(INFINITY), res);
    return xsimd::select(x != x, x, res);  // nan
  }
  /// math::sigmoid: 1 / (1 + e^-x).
  static F sigmoid(F x) { return compat::div(F(1.0f), F(1.0f) + exp(-x)); }
  /// math::silu.
  static F silu(F x) { return x * sigmoid(x); }

  // ---- helpers ------------------------------------------------------------------------------

  /// Loads `count` floats (count < L) into a zero-padded batch.
  static F load_partial(const float* p, index_t count) {
    alignas(64) float buf[64] = {};
    std::memcpy(buf, p, std::size_t(count) * sizeof(float));
    return F::load_unaligned(buf);
  }
  static void store_partial(float* p, F v, index_t count) {
    alignas(64) float buf[64];
    v.store_unaligned(buf);
    std::memcpy(p, buf, std::size_t(count) * sizeof(float));
  }

  // ---- kernels (signatures of simd::KernelTable) --------------------------------------------

  /// ref::rms_inv: the sum of squares runs sequentially in double, as in the oracle (changing its
  /// order could move the f32 result by an ulp). Four rows at a time hide the add latency.
  static void rms_inv(const float* x, index_t xs, index_t n, index_t rows, float eps, float* out) {
    index_t r = 0;
    for (; r + 4 <= rows; r += 4) {
      const float *a = x + r * xs, *b = a + xs, *c = b + xs, *d = c + xs;
      double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
      for (index_t k = 0; k < n; ++k) {
        s0 += double(a[k]) * double(a[k]);
        s1 += double(b[k]) * double(b[k]);
        s2 += double(c[k]) * double(c[k]);
        s3 += double(d[k]) * double(d[k]);
      }
      const double s[4] = {s0, s1, s2, s3};
      for (int j = 0; j < 4; ++j) out[r + j] = 1.0f / ::sqrtf(float(s[j] / double(n)) + eps);
    }
    for (; r < rows; ++r) {
      const float* a = x + r * xs;
      double s = 0.0;
      for (index_t k = 0; k < n; ++k) s += double(a[k]) * double(a[k]);
      out[r] = 1.0f / ::sqrtf(float(s / double(n)) + eps);
    }
  }

  /// ref::norm_quantize_row given rinv: y = (x * r) * w; s_a from max|y|; codes
  /// clamp(round_half_away(y * s_a), -128, 127); zeros up to `padded`; also the sum of the codes.
  static void quantize(const float* x, index_t xs, const float* rinv, const float* w, index_t n, index_t padded,
                       index_t rows, std::int8_t* q, index_t qs, float* scale, std::int32_t* sums) {
    for (index_t r = 0; r < rows; ++r) {
      const float* xr = x + r * xs;
      std::int8_t* qr = q + r * qs;
      const F rv(rinv[r]);
      // pass 1: absmax. `a > m ? a : m` lane-wise then across lanes: NaN never wins, as in the oracle.
      F m(0.0f);
      index_t k = 0;
      for (; k + L <= n; k += L) {
        const F a = xsimd::abs((F::load_unaligned(xr + k) * rv) * F::load_unaligned(w + k));
        m = xsimd::select(a > m, a, m);
      }
      if (k < n) {
        const F a = xsimd::abs((load_partial(xr + k, n - k) * rv) * load_partial(w + k, n - k));
        m = xsimd::select(a > m, a, m);
      }
      alignas(64) float lanes[64];
      m.store_unaligned(lanes);
      float amax = 0.0f;
      for (index_t j = 0; j < L; ++j) amax = lanes[j] > amax ? lanes[j] : amax;
      const float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);  // ref::act_scale_from_absmax
      scale[r] = s;
      // pass 2: codes (padded lanes are 0 -> code 0, so they add nothing to the sum)
      const F sv(s);
      I total(0);
      alignas(64) std::int32_t ibuf[64];
      for (k = 0; k < n; k += L) {
        const index_t cnt = n - k < L ? n - k : L;
        const F y = cnt == L ? (F::load_unaligned(xr + k) * rv) * F::load_unaligned(w + k)
                             : (load_partial(xr + k, cnt) * rv) * load_partial(w + k, cnt);
        const I c = quantize_value(y * sv);
        total = total + c;
        store_codes(qr + k, c, cnt);
      }
      for (index_t j = n; j < padded; ++j) qr[j] = 0;
      total.store_unaligned(ibuf);
      std::int32_t sum = 0;
      for (index_t j = 0; j < L; ++j) sum += ibuf[j];
      sums[r] = sum;
    }
  }

  /// ref::quantize_value on y * s_a, as int32 lanes in [-128, 127] (NaN -> 0, what int8_t(NaN)
  /// gives on x86 and ARM for the oracle).
  static I quantize_value(F v) {
    const F a = xsimd::abs(v);
    F r = compat::floor(a);
    r = xsimd::select(a - r >= F(0.5f), r + F(1.0f), r);  // math::round_half_away
    r = xsimd::select(v < F(0.0f), -r, r);
    r = xsimd::select(r < F(-128.0f), F(-128.0f), xsimd::select(r > F(127.0f), F(127.0f), r));  // math::clampf
    r = xsimd::select(r != r, F(0.0f), r);
    return compat::to_int(r);
  }

  /// Stores the first `count` lanes of c (values in [-128, 127]) as int8.
  static void store_codes(std::int8_t* dst, I c, index_t count) {
    if (count == L) return compat::store_i8(dst, c);
    alignas(64) std::int32_t b[64];
    c.store_unaligned(b);
    for (index_t j = 0; j < count; ++j) dst[j] = std::int8_t(b[j]);
  }

  /// ref::rmsnorm_row's product: y = (x * r) * w.
  static void scale(const float* x, index_t xs, const float* rinv, const float* w, index_t n, index_t rows, float* y,
                    index_t ys) {
    for (index_t r = 0; r < rows; ++r) {
      const float* xr = x + r * xs;
      float* yr = y + r * ys;
      const F rv(rinv[r]);
      index_t k = 0;
      for (; k + L <= n; k += L) ((F::load_unaligned(xr + k) * rv) * F::load_unaligned(w + k)).store_unaligned(yr + k);
      if (k < n) store_partial(yr + k, (load_partial(xr + k, n - k) * rv) * load_partial(w + k, n - k), n - k);
    }
  }

  /// ref::gated_norm_row after its rms_inv: out = ((g * r) * w) * silu(s).
  static void gated(const float* g, index_t gs, const float* rinv, const float* w, const float* s, index_t ss,
                    index_t n, index_t rows, float* out, index_t os) {
    for (index_t r = 0; r < rows; ++r) {
      const float *gr = g + r * gs, *sr = s + r * ss;
      float* o = out + r * os;
      const F rv(rinv[r]);
      index_t k = 0;
      for (; k + L <= n; k += L)
        (((F::load_unaligned(gr + k) * rv) * F::load_unaligned(w + k)) * silu(F::load_unaligned(sr + k)))
            .store_unaligned(o + k);
      if (k < n) {
        const index_t c = n - k;
        store_partial(o + k, ((load_partial(gr + k, c) * rv) * load_partial(w + k, c)) * silu(load_partial(sr + k, c)),
                      c);
      }
    }
  }

  /// ref::mlgru_channel for channels [0, n): lanes are channels, each sequential over time.
  static void scan(float* i, index_t is, const float* f, index_t fs, index_t T, const float* lb, float* state,
                   index_t n) {
    auto run = [&](index_t k, index_t cnt) {
      const bool tail = cnt < L;
      F s = tail ? load_partial(state + k, cnt) : F::load_unaligned(state + k);
      F lbv(0.0f), one_m_lb(0.0f);
      if (lb != nullptr) {
        lbv = tail ? load_partial(lb + k, cnt) : F::load_unaligned(lb + k);
        one_m_lb = F(1.0f) - lbv;
      }
      for (index_t t = 0; t < T; ++t) {
        const float* fp = f + t * fs + k;
        float* ip = i + t * is + k;
        F fv = sigmoid(tail ? load_partial(fp, cnt) : F::load_unaligned(fp));
        if (lb != nullptr) fv = compat::fmadd(one_m_lb, fv, lbv);  // lb + (1 - lb) * f
        const F c = silu(tail ? load_partial(ip, cnt) : F::load_unaligned(ip)) * (F(1.0f) - fv);
        s = compat::fmadd(fv, s, c);
        if (tail)
          store_partial(ip, s, cnt);
        else
          s.store_unaligned(ip);
      }
      if (tail)
        store_partial(state + k, s, cnt);
      else
        s.store_unaligned(state + k);
    };
    index_t k = 0;
    for (; k + L <= n; k += L) run(k, L);
    if (k < n) run(k, n - k);
  }

  /// ref::glu_row: v = silu(gate) * up.
  static void glu(const float* gate, const float* up, index_t us, index_t n, index_t rows, float* v, index_t vs) {
    for (index_t r = 0; r < rows; ++r) {
      const float *g = gate + r * us, *u = up + r * us;
      float* o = v + r * vs;
      index_t k = 0;
      for (; k + L <= n; k += L) (silu(F::load_unaligned(g + k)) * F::load_unaligned(u + k)).store_unaligned(o + k);
      if (k < n) store_partial(o + k, silu(load_partial(g + k, n - k)) * load_partial(u + k, n - k), n - k);
    }
  }

  /// h += d.
  static void add(float* h, index_t hs, const float* d, index_t ds, index_t n, index_t rows) {
    for (index_t r = 0; r < rows; ++r) {
      float* a = h + r * hs;
      const float* b = d + r * ds;
      index_t k = 0;
      for (; k + L <= n; k += L) (F::load_unaligned(a + k) + F::load_unaligned(b + k)).store_unaligned(a + k);
      if (k < n) store_partial(a + k, load_partial(a + k, n - k) + load_partial(b + k, n - k), n - k);
    }
  }

  /// Sum of 64-bit words, four independent accumulators (a read stream: see simd::ReadSumFn).
  static std::uint64_t read_sum(const void* p, index_t bytes) {
    using U = xsimd::batch<std::uint64_t, A>;
    constexpr index_t W = index_t(U::size) * 8;
    const auto* b = static_cast<const std::uint8_t*>(p);
    U a0(std::uint64_t(0)), a1 = a0, a2 = a0, a3 = a0;
    index_t k = 0;
    for (; k + 4 * W <= bytes; k += 4 * W) {
      a0 = a0 + U::load_aligned(reinterpret_cast<const std::uint64_t*>(b + k));
      a1 = a1 + U::load_aligned(reinterpret_cast<const std::uint64_t*>(b + k + W));
      a2 = a2 + U::load_aligned(reinterpret_cast<const std::uint64_t*>(b + k + 2 * W));
      a3 = a3 + U::load_aligned(reinterpret_cast<const std::uint64_t*>(b + k + 3 * W));
    }
    alignas(64) std::uint64_t lanes[8];
    ((a0 + a1) + (a2 + a3)).store_aligned(lanes);
    std::uint64_t s = 0;
    for (index_t j = 0; j < index_t(U::size); ++j) s += lanes[j];
    for (; k + 8 <= bytes; k += 8) {
      std::uint64_t v;
      std::memcpy(&v, b + k, 8);
      s += v;
    }
    return s;
  }

  static void fill(simd::KernelTable& t) {
    t.read_sum = &read_sum;
    t.rms_inv = &rms_inv;
    t.quantize = &quantize;
    t.scale = &scale;
    t.gated = &gated;
    t.scan = &scan;
    t.glu = &glu;
    t.add = &add;
  }
};

}  // namespace MMFREE_SIMD_NS
}  // namespace simd_impl
MMFREE_NAMESPACE_END
