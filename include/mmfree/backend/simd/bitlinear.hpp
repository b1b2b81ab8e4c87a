// SPDX-License-Identifier: MIT
// BitLinear on backend::Simd: quantise each input row once (threads split the rows), then the
// ternary product of the context's path split over output rows (GEMV for one token, a GEMM that
// unpacks each weight tile once for all tokens otherwise). act::Int8 only.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "../../activation/fake_quant.hpp"
#include "../../activation/int8.hpp"
#include "../../core/concepts.hpp"
#include "../../core/quantize.hpp"
#include "../../model/weights.hpp"
#include "../../packing/i2.hpp"
#include "../../packing/i8.hpp"
#include "../../packing/tq1.hpp"
#include "../kernels.hpp"
#include "backend.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd {

/// Index of packing P in KernelTable::ternary; a packing without SIMD kernels stops compilation.
template <class P>
constexpr PackingId packing_id() {
  if constexpr (std::is_same_v<P, packing::I8>)
    return PackingId::i8;
  else if constexpr (std::is_same_v<P, packing::I2>)
    return PackingId::i2;
  else if constexpr (std::is_same_v<P, packing::TQ1>)
    return PackingId::tq1;
  else
    static_assert(dependent_false<P>, "mmfree: backend::Simd has kernels for packing::I8, I2 and TQ1 only");
}

}  // namespace simd

namespace detail {

/// \brief BitLinear of backend::SimdOn<Path> with act::Int8 (exact int32 sums, same bits as Serial).
template <WeightPacking P, simd::Path Path>
struct BitLinearKernel<P, act::Int8, backend::SimdOn<Path>> {
  using Ctx = typename backend::SimdOn<Path>::context_type;
  static constexpr int pid = int(simd::packing_id<P>());
  static constexpr index_t row_block = 32;

  static void run(Ctx& ctx, const TernaryWeights<P>& w, ConstMatrixView<float> x, MatrixView<float> y,
                  const ActScratch& s) {
    const TernaryWeights<P>* ws[1] = {&w};
    MatrixView<float> ys[1] = {y};
    quantize(ctx, ws, x, s);
    product(ctx, ws, ys, x.rows, s);
  }

  /// \brief Several BitLinears on the same input (the MLGRU's i/f/g projections): the input is read
  /// once for its RMS, each projection's codes are made once, and one parallel pass covers the
  /// output rows of all of them. Falls back to one at a time when `s` is too small for all codes.
  template <std::size_t N>
  static void run_multi(Ctx& ctx, const std::array<const TernaryWeights<P>*, N>& ws, ConstMatrixView<float> x,
                        const std::array<MatrixView<float>, N>& ys, const ActScratch& s) {
    const index_t Kp = padded_cols<P>(x.cols);
    if (index_t(N) * x.rows > s.max_rows || index_t(N) * x.rows * Kp > s.capacity) {
      for (std::size_t j = 0; j < N; ++j) run(ctx, *ws[j], x, ys[j], s);
      return;
    }
    quantize(ctx, std::span<const TernaryWeights<P>* const>(ws.data(), N), x, s);
    product(ctx, std::span<const TernaryWeights<P>* const>(ws.data(), N),
            std::span<const MatrixView<float>>(ys.data(), N), x.rows, s);
  }

 private:
  /// Codes of projection j for token row r live at s.codes + (j * R + r) * Kp.
  static void quantize(Ctx& ctx, std::span<const TernaryWeights<P>* const> ws, ConstMatrixView<float> x,
                       const ActScratch& s) {
    const auto& k = ctx.kernels();
    const index_t R = x.rows, K = x.cols, Kp = padded_cols<P>(K);
    const index_t J = index_t(ws.size());
    ctx.parallel_for(R, 1, ctx.grain(8 * J * K), [&](int, index_t b, index_t e) {
      float rinv[row_block];
      for (index_t r = b; r < e; r += row_block) {
        const index_t n = std::min(row_block, e - r);
        k.rms_inv(x.row(r), x.stride, K, n, bitlinear_norm_eps, rinv);
        for (index_t j = 0; j < J; ++j) {
          const index_t o = j * R + r;
          k.quantize(x.row(r), x.stride, rinv, ws[std::size_t(j)]->norm, K, Kp, n, s.codes + o * Kp, Kp,
                     s.scales + o, s.sums + o);
        }
      }
    });
  }

  static void product(Ctx& ctx, std::span<const TernaryWeights<P>* const> ws, std::span<const MatrixView<float>> ys,
                      index_t R, const ActScratch& s) {
    const auto& k = ctx.kernels();
    const simd::TernaryFn fn = k.ternary[pid];
    constexpr std::size_t max_j = 4;
    simd::TernaryProblem pr[max_j];
    index_t first[max_j + 1] = {0};  // projection j owns global rows [first[j], first[j+1])
    const std::size_t J = ws.size();
    check(J <= max_j, "BitLinear run_multi: at most 4 projections");
    for (std::size_t j = 0; j < J; ++j) {
      const TernaryWeights<P>& w = *ws[j];
      const index_t Kp = padded_cols<P>(w.cols);
      pr[j].weights = w.codes;
      pr[j].row_bytes = w.row_bytes;
      pr[j].cols = w.cols;
      pr[j].padded_cols = Kp;
      pr[j].w_scale = w.w_scale;
      pr[j].codes = s.codes + index_t(j) * R * Kp;
      pr[j].code_stride = Kp;
      pr[j].act_scale = s.scales + index_t(j) * R;
      pr[j].code_sums = s.sums + index_t(j) * R;
      pr[j].rows = R;
      pr[j].out = ys[j].data;
      pr[j].out_stride = ys[j].stride;
      first[j + 1] = first[j] + w.rows;
    }
    const index_t total = first[J], K = ws[0]->cols;
    // Chunks of 32 rows: a multiple of every kernel's row tile, so threads never share a tile.
    ctx.parallel_for(total, 32, ctx.grain(K * R), [&](int t, index_t b, index_t e) {
      const simd::ScratchSpan scratch = ctx.scratch(t);
      for (std::size_t j = 0; j < J; ++j) {
        const index_t lo = std::max(b, first[j]), hi = std::min(e, first[j + 1]);
        if (lo < hi) fn(pr[j], lo - first[j], hi - first[j], scratch);
      }
    });
  }
};

/// act::FakeQuant sums in f32, whose rounding depends on the order of the sum: the SIMD kernels
/// implement only exact integer sums.
template <WeightPacking P, simd::Path Path>
struct BitLinearKernel<P, act::FakeQuant, backend::SimdOn<Path>> {
  static_assert(dependent_false<P>,
                "mmfree: act::FakeQuant + backend::Simd is not supported (the SIMD kernels sum exactly in "
                "int32: use act::Int8, or backend::Serial for fake-quant f32 sums)");
};

}  // namespace detail
MMFREE_NAMESPACE_END
