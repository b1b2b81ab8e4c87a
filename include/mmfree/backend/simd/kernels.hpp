// SPDX-License-Identifier: MIT
// detail::Kernels for backend::Simd: the normalisation, recurrence and element-wise hooks, split
// over the context's threads and run by the compiled kernels of its path.
#pragma once

#include <algorithm>

#include "../../core/types.hpp"
#include "../../model/weights.hpp"
#include "../kernels.hpp"
#include "../reference/row_kernels.hpp"
#include "backend.hpp"

MMFREE_NAMESPACE_BEGIN
namespace detail {

/// \brief Non-ternary kernels of backend::SimdOn<P>.
///
/// Rows are split across threads (columns when there is one row); each element is computed by
/// one thread with the operations of the ref:: row functions, so results are bit-identical to
/// backend::Serial for every thread count.
template <simd::Path P>
struct Kernels<backend::SimdOn<P>> {
  using Ctx = typename backend::SimdOn<P>::context_type;
  /// Rows whose rms_inv one kernel call computes at once (stack buffer).
  static constexpr index_t row_block = 32;

  static void rmsnorm(Ctx& ctx, ConstMatrixView<float> x, const float* w, float eps, MatrixView<float> y) {
    const auto& k = ctx.kernels();
    ctx.parallel_for(x.rows, 1, ctx.grain(4 * x.cols), [&](int, index_t b, index_t e) {
      float rinv[row_block];
      for (index_t r = b; r < e; r += row_block) {
        const index_t n = std::min(row_block, e - r);
        k.rms_inv(x.row(r), x.stride, x.cols, n, eps, rinv);
        k.scale(x.row(r), x.stride, rinv, w, x.cols, n, y.row(r), y.stride);
      }
    });
  }

  static void add(Ctx& ctx, MatrixView<float> h, ConstMatrixView<float> d) {
    const auto& k = ctx.kernels();
    if (h.rows == 1) {
      ctx.parallel_for(h.cols, 64, ctx.grain(1), [&](int, index_t b, index_t e) {
        k.add(h.data + b, h.stride, d.data + b, d.stride, e - b, 1);
      });
      return;
    }
    ctx.parallel_for(h.rows, 1, ctx.grain(h.cols), [&](int, index_t b, index_t e) {
      k.add(h.row(b), h.stride, d.row(b), d.stride, h.cols, e - b);
    });
  }

  static void embed(Ctx& ctx, const EmbeddingTable& t, const std::int32_t* ids, MatrixView<float> out) {
    ref::HostRowKernels::embed(ctx, t, ids, out);  // a copy with a type conversion: memory bound
  }

  static void mlgru_scan(Ctx& ctx, MatrixView<float> i, ConstMatrixView<float> f, const float* lb,
                         MatrixView<float> state, index_t batch, index_t T) {
    // Items are blocks of 64 channels of one sequence; each channel runs sequentially over time.
    const auto& k = ctx.kernels();
    const index_t H = i.cols, blocks = (H + 63) / 64;
    // about 3 operations a channel and step (two exps, a division, a few multiply-adds per lane)
    ctx.parallel_for(batch * blocks, 1, ctx.grain(64 * 3 * T), [&](int, index_t b, index_t e) {
      for (index_t it = b; it < e; ++it) {
        const index_t s = it / blocks, c0 = (it % blocks) * 64, n = std::min<index_t>(64, H - c0);
        k.scan(i.row(s * T) + c0, i.stride, f.row(s * T) + c0, f.stride, T, lb != nullptr ? lb + c0 : nullptr,
               state.row(s) + c0, n);
      }
    });
  }

  static void gated_norm(Ctx& ctx, ConstMatrixView<float> g, ConstMatrixView<float> s, const float* w, float eps,
                         MatrixView<float> out) {
    const auto& k = ctx.kernels();
    ctx.parallel_for(g.rows, 1, ctx.grain(8 * g.cols), [&](int, index_t b, index_t e) {
      float rinv[row_block];
      for (index_t r = b; r < e; r += row_block) {
        const index_t n = std::min(row_block, e - r);
        k.rms_inv(g.row(r), g.stride, g.cols, n, eps, rinv);
        k.gated(g.row(r), g.stride, rinv, w, s.row(r), s.stride, g.cols, n, out.row(r), out.stride);
      }
    });
  }

  static void glu(Ctx& ctx, ConstMatrixView<float> u, MatrixView<float> v) {
    const auto& k = ctx.kernels();
    const index_t I = v.cols;
    if (u.rows == 1) {  // decode: split the columns (when they are many: a silu is about 2 operations)
      ctx.parallel_for(I, 64, ctx.grain(2), [&](int, index_t b, index_t e) {
        k.glu(u.data + b, u.data + I + b, u.stride, e - b, 1, v.data + b, v.stride);
      });
      return;
    }
    ctx.parallel_for(u.rows, 1, ctx.grain(2 * I), [&](int, index_t b, index_t e) {
      k.glu(u.row(b), u.row(b) + I, u.stride, I, e - b, v.row(b), v.stride);
    });
  }
};

}  // namespace detail
MMFREE_NAMESPACE_END
