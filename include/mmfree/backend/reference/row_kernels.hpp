// SPDX-License-Identifier: MIT
// Plain loops over rows for the non-ternary steps, shared by the host backends. Every value is
// computed by the row functions of core/quantize.hpp and core/math.hpp, so any backend that
// reuses or mirrors them agrees bit for bit.
#pragma once

#include <cstdint>

#include "../../core/math.hpp"
#include "../../core/quantize.hpp"
#include "../../core/types.hpp"
#include "../../model/weights.hpp"

MMFREE_NAMESPACE_BEGIN
namespace ref {

/// The MLGRU recurrence of channel `d` of one sequence over `T` time steps. `i` and `f` point at
/// the sequence's first row (rows `istride` / `fstride` apart); `i` is overwritten with the states.
MMFREE_HOST_DEVICE void mlgru_channel(float* i, index_t istride, const float* f, index_t fstride, index_t T,
                                      const float* lb, float* state, index_t d) {
  float s = state[d];
  for (index_t t = 0; t < T; ++t) {
    float fv = math::sigmoid(f[t * fstride + d]);
    if (lb != nullptr) fv = ::fmaf(1.0f - lb[d], fv, lb[d]);  // lb + (1 - lb) * f
    const float c = math::silu(i[t * istride + d]) * (1.0f - fv);
    s = ::fmaf(fv, s, c);
    i[t * istride + d] = s;
  }
  state[d] = s;
}

/// out = RMSNorm(g) * w * silu(s) for one row.
MMFREE_HOST_DEVICE void gated_norm_row(const float* g, const float* s, const float* w, index_t n, float eps,
                                       float* out) {
  const float r = rms_inv(g, n, eps);
  for (index_t k = 0; k < n; ++k) out[k] = (g[k] * r * w[k]) * math::silu(s[k]);
}

/// v = silu(gate) * up for one row of the GLU.
MMFREE_HOST_DEVICE void glu_row(const float* u, index_t I, float* v) {
  for (index_t k = 0; k < I; ++k) v[k] = math::silu(u[k]) * u[I + k];
}

/// Embedding row `id` converted to f32 (int8 rows times their scale).
inline void embed_row(const EmbeddingTable& t, std::int32_t id, float* out) {
  const std::size_t base = std::size_t(id) * std::size_t(t.cols);
  if (t.row_scales != nullptr) {
    const float s = t.row_scales[id];
    for (index_t k = 0; k < t.cols; ++k) out[k] = load_as_f32(t.data, t.dtype, base + std::size_t(k)) * s;
    return;
  }
  for (index_t k = 0; k < t.cols; ++k) out[k] = load_as_f32(t.data, t.dtype, base + std::size_t(k));
}

/// Host implementation of detail::Kernels' non-ternary hooks; host backends derive from it.
struct HostRowKernels {
  template <class Ctx>
  static void rmsnorm(Ctx&, ConstMatrixView<float> x, const float* w, float eps, MatrixView<float> y) {
    for (index_t r = 0; r < x.rows; ++r) rmsnorm_row(x.row(r), w, x.cols, eps, y.row(r));
  }
  template <class Ctx>
  static void add(Ctx&, MatrixView<float> h, ConstMatrixView<float> d) {
    for (index_t r = 0; r < h.rows; ++r) {
      float* a = h.row(r);
      const float* b = d.row(r);
      for (index_t k = 0; k < h.cols; ++k) a[k] = a[k] + b[k];
    }
  }
  template <class Ctx>
  static void embed(Ctx&, const EmbeddingTable& t, const std::int32_t* ids, MatrixView<float> out) {
    for (index_t r = 0; r < out.rows; ++r) embed_row(t, ids[r], out.row(r));
  }
  template <class Ctx>
  static void mlgru_scan(Ctx&, MatrixView<float> i, ConstMatrixView<float> f, const float* lb,
                         MatrixView<float> state, index_t batch, index_t T) {
    for (index_t b = 0; b < batch; ++b)
      for (index_t d = 0; d < i.cols; ++d)
        mlgru_channel(i.row(b * T), i.stride, f.row(b * T), f.stride, T, lb, state.row(b), d);
  }
  template <class Ctx>
  static void gated_norm(Ctx&, ConstMatrixView<float> g, ConstMatrixView<float> s, const float* w, float eps,
                         MatrixView<float> out) {
    for (index_t r = 0; r < g.rows; ++r) gated_norm_row(g.row(r), s.row(r), w, g.cols, eps, out.row(r));
  }
  template <class Ctx>
  static void glu(Ctx&, ConstMatrixView<float> u, MatrixView<float> v) {
    for (index_t r = 0; r < u.rows; ++r) glu_row(u.row(r), v.cols, v.row(r));
  }
};

}  // namespace ref
MMFREE_NAMESPACE_END
