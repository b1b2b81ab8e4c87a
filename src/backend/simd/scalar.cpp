// SPDX-License-Identifier: MIT
// Path::scalar: portable C++ for any CPU (built without -m flags). The float steps call the
// oracle's own row functions; the ternary product decodes 32-byte groups into a small buffer.
#include <cstdint>
#include <cstring>

#include "mmfree/backend/reference/row_kernels.hpp"
#include "mmfree/backend/simd/kernel_table.hpp"
#include "mmfree/core/concepts.hpp"
#include "mmfree/core/math.hpp"
#include "mmfree/core/quantize.hpp"
#include "mmfree/packing/i2.hpp"
#include "mmfree/packing/i8.hpp"
#include "mmfree/packing/tq1.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
namespace scalar {
namespace {

using simd::ScratchSpan;
using simd::TernaryProblem;

// ---- float kernels: the oracle's functions ---------------------------------------------------

void rms_inv(const float* x, index_t xs, index_t n, index_t rows, float eps, float* out) {
  for (index_t r = 0; r < rows; ++r) out[r] = ref::rms_inv(x + r * xs, n, eps);
}

void quantize(const float* x, index_t xs, const float* rinv, const float* w, index_t n, index_t padded, index_t rows,
              std::int8_t* q, index_t qs, float* scale, std::int32_t* sums) {
  for (index_t r = 0; r < rows; ++r) {
    // ref::norm_quantize_row with its rms_inv replaced by the precomputed one
    const float* xr = x + r * xs;
    std::int8_t* qr = q + r * qs;
    const float rv = rinv[r];
    float amax = 0.0f;
    for (index_t k = 0; k < n; ++k) {
      const float y = xr[k] * rv * w[k];
      const float a = y < 0.0f ? -y : y;
      amax = a > amax ? a : amax;
    }
    const float s = ref::act_scale_from_absmax(amax);
    std::int32_t sum = 0;
    for (index_t k = 0; k < n; ++k) {
      const float v = math::clampf(math::round_half_away(xr[k] * rv * w[k] * s), -128.0f, 127.0f);
      qr[k] = v == v ? std::int8_t(v) : std::int8_t(0);  // NaN -> 0 (what the x86/ARM oracle gets), no UB
      sum += qr[k];
    }
    for (index_t k = n; k < padded; ++k) qr[k] = 0;
    scale[r] = s;
    sums[r] = sum;
  }
}

void scale_rows(const float* x, index_t xs, const float* rinv, const float* w, index_t n, index_t rows, float* y,
                index_t ys) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t k = 0; k < n; ++k) y[r * ys + k] = x[r * xs + k] * rinv[r] * w[k];
}

void gated(const float* g, index_t gs, const float* rinv, const float* w, const float* s, index_t ss, index_t n,
           index_t rows, float* out, index_t os) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t k = 0; k < n; ++k) out[r * os + k] = (g[r * gs + k] * rinv[r] * w[k]) * math::silu(s[r * ss + k]);
}

void scan(float* i, index_t is, const float* f, index_t fs, index_t T, const float* lb, float* state, index_t n) {
  for (index_t d = 0; d < n; ++d) ref::mlgru_channel(i, is, f, fs, T, lb, state, d);
}

void glu(const float* gate, const float* up, index_t us, index_t n, index_t rows, float* v, index_t vs) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t k = 0; k < n; ++k) v[r * vs + k] = math::silu(gate[r * us + k]) * up[r * us + k];
}

void add(float* h, index_t hs, const float* d, index_t ds, index_t n, index_t rows) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t k = 0; k < n; ++k) h[r * hs + k] = h[r * hs + k] + d[r * ds + k];
}

std::uint64_t read_sum(const void* p, index_t bytes) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  std::uint64_t s0 = 0, s1 = 0;
  for (index_t k = 0; k + 16 <= bytes; k += 16) {
    std::uint64_t v[2];
    std::memcpy(v, b + k, 16);
    s0 += v[0];
    s1 += v[1];
  }
  return s0 + s1;
}

// ---- ternary product -------------------------------------------------------------------------

/// Ternary values of one packed group (32 bytes, P::block_k / (P::block_bytes / 32) weights).
template <class P>
void decode_group(const std::uint8_t* row, index_t group, std::int8_t* t) {
  constexpr index_t gk = P::block_k * 32 / P::block_bytes;
  // Each packing's blocks are 32 bytes, so group g is block g and decode() indexes it directly.
  for (index_t k = 0; k < gk; ++k) t[k] = std::int8_t(P::decode(row, group * gk + k));
}

template <class P>
void ternary(const TernaryProblem& p, index_t n0, index_t n1, ScratchSpan) {
  static_assert(P::block_bytes == 32, "scalar kernel: 32-byte blocks");
  constexpr index_t gk = P::block_k;
  constexpr index_t tb = 64;  // tokens per pass over a row
  const index_t groups = p.row_bytes / 32;
  std::int8_t t[gk];
  std::int32_t acc[tb];
  for (index_t n = n0; n < n1; ++n) {
    const std::uint8_t* row = p.weights + n * p.row_bytes;
    for (index_t r0 = 0; r0 < p.rows; r0 += tb) {
      const index_t rn = p.rows - r0 < tb ? p.rows - r0 : tb;
      for (index_t r = 0; r < rn; ++r) acc[r] = 0;
      for (index_t g = 0; g < groups; ++g) {
        decode_group<P>(row, g, t);
        for (index_t r = 0; r < rn; ++r) {
          const std::int8_t* q = p.codes + (r0 + r) * p.code_stride + g * gk;
          std::int32_t s = 0;
          for (index_t k = 0; k < gk; ++k) s += std::int32_t(q[k]) * t[k];
          acc[r] += s;
        }
      }
      for (index_t r = 0; r < rn; ++r)
        p.out[(r0 + r) * p.out_stride + n] = ref::dequantize(acc[r], p.act_scale[r0 + r], p.w_scale);
    }
  }
}

}  // namespace
}  // namespace scalar

void fill_scalar(simd::KernelTable& t) {
  t.ternary[int(simd::PackingId::i8)] = &scalar::ternary<packing::I8>;
  t.ternary[int(simd::PackingId::i2)] = &scalar::ternary<packing::I2>;
  t.ternary[int(simd::PackingId::tq1)] = &scalar::ternary<packing::TQ1>;
  t.rms_inv = &scalar::rms_inv;
  t.quantize = &scalar::quantize;
  t.scale = &scalar::scale_rows;
  t.gated = &scalar::gated;
  t.scan = &scalar::scan;
  t.glu = &scalar::glu;
  t.add = &scalar::add;
  t.read_sum = &scalar::read_sum;
}

}  // namespace simd_impl
MMFREE_NAMESPACE_END
