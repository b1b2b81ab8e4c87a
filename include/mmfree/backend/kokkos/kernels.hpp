// SPDX-License-Identifier: MIT
// detail::Kernels and detail::BitLinearKernel of backend::Kokkos: each hook becomes an Op handed
// to the context, which runs it at once or, inside Context::run(), fuses it into a program.
#pragma once

#include "../../activation/fake_quant.hpp"
#include "../../activation/int8.hpp"
#include "../../model/weights.hpp"
#include "../kernels.hpp"
#include "backend.hpp"
#include "ternary.hpp"

MMFREE_NAMESPACE_BEGIN
namespace detail {

template <class Ex>
struct Kernels<backend::Kokkos<Ex>> {
  using Ctx = kk::Context<Ex>;

  static void rmsnorm(Ctx& ctx, ConstMatrixView<float> x, const float* w, float eps, MatrixView<float> y) {
    kk::Op op;
    op.kind = kk::OpKind::rmsnorm, op.a = x, op.c = y, op.w = w, op.eps = eps;
    ctx.submit(op);
  }
  static void add(Ctx& ctx, MatrixView<float> h, ConstMatrixView<float> d) {
    kk::Op op;
    op.kind = kk::OpKind::add, op.a = h, op.b = d;
    ctx.submit(op);
  }
  static void embed(Ctx& ctx, const EmbeddingTable& t, const std::int32_t* ids, MatrixView<float> out) {
    check(t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16,
          "backend::Kokkos: embeddings must be F32, F16 or BF16");
    kk::Op op;
    op.kind = kk::OpKind::embed, op.c = out, op.table = t, op.ids = ids;
    ctx.submit(op);
  }
  static void mlgru_scan(Ctx& ctx, MatrixView<float> i, ConstMatrixView<float> f, const float* lb,
                         MatrixView<float> state, index_t batch, index_t T) {
    kk::Op op;
    op.kind = kk::OpKind::scan, op.a = i, op.b = f, op.c = state, op.w = lb, op.batch = batch, op.T = T;
    ctx.submit(op);
  }
  static void gated_norm(Ctx& ctx, ConstMatrixView<float> g, ConstMatrixView<float> s, const float* w, float eps,
                         MatrixView<float> out) {
    kk::Op op;
    op.kind = kk::OpKind::gated_norm, op.a = g, op.b = s, op.c = out, op.w = w, op.eps = eps;
    ctx.submit(op);
  }
  static void glu(Ctx& ctx, ConstMatrixView<float> u, MatrixView<float> v) {
    kk::Op op;
    op.kind = kk::OpKind::glu, op.a = u, op.c = v;
    ctx.submit(op);
  }
};

/// Ternary BitLinear of backend::Kokkos with int8 activations (exact integer sums). The packing
/// is decoded in registers by kk::Decoder<P>: I8, I2 and TQ1.
template <WeightPacking P, class Ex>
struct BitLinearKernel<P, act::Int8, backend::Kokkos<Ex>> {
  static void run(kk::Context<Ex>& ctx, const TernaryWeights<P>& w, ConstMatrixView<float> x, MatrixView<float> y,
                  const ActScratch&) {
    kk::Op op;
    op.kind = kk::OpKind::bitlinear;
    op.a = x;
    op.c = y;
    op.t = kk::Ternary{w.codes, w.norm, w.rows, w.cols, w.row_bytes, padded_cols<P>(w.cols), w.w_scale};
    op.ops = kk::ternary_ops<Ex, P>();
    ctx.submit(op);
  }
};

/// act::FakeQuant (f32 sums) is a training-time policy; the Kokkos backend does not implement it.
template <WeightPacking P, class Ex>
struct BitLinearKernel<P, act::FakeQuant, backend::Kokkos<Ex>> {
  static_assert(dependent_false<P, Ex>,
                "mmfree: backend::Kokkos implements act::Int8 only (act::FakeQuant is not supported on Kokkos)");
};

}  // namespace detail
MMFREE_NAMESPACE_END
