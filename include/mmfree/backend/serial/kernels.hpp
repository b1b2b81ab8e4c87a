// SPDX-License-Identifier: MIT
// Kernels of backend::Serial: the ternary product written out element by element through the
// packing's decode(), and the shared row loops for everything else.
#pragma once

#include <cstdint>

#include "../../activation/fake_quant.hpp"
#include "../../activation/int8.hpp"
#include "../../core/quantize.hpp"
#include "../../model/weights.hpp"
#include "../kernels.hpp"
#include "../reference/row_kernels.hpp"
#include "backend.hpp"

MMFREE_NAMESPACE_BEGIN
namespace detail {

template <>
struct Kernels<backend::Serial> : ref::HostRowKernels {};

/// Serial BitLinear for any packing, with integer (act::Int8) or f32 (act::FakeQuant) sums.
template <WeightPacking P, ActivationPolicy A>
struct BitLinearKernel<P, A, backend::Serial> {
  static void run(backend::Serial::context_type&, const TernaryWeights<P>& w, ConstMatrixView<float> x,
                  MatrixView<float> y, const ActScratch& s) {
    const index_t K = w.cols, stride = padded_cols<P>(K);
    for (index_t r = 0; r < x.rows; ++r) {
      std::int8_t* q = s.codes + r * stride;
      const float sa = ref::norm_quantize_row(x.row(r), w.norm, K, bitlinear_norm_eps, q);
      float* out = y.row(r);
      for (index_t n = 0; n < w.rows; ++n) {
        const std::uint8_t* row = w.row(n);
        if constexpr (A::integer_accumulation) {
          std::int32_t acc = 0;
          for (index_t k = 0; k < K; ++k) acc += std::int32_t(q[k]) * P::decode(row, k);
          out[n] = ref::dequantize(acc, sa, w.w_scale);
        } else {
          // upstream's fake-quant forward: (q / s_a) . (t / w_scale), summed in f32
          float acc = 0.0f;
          for (index_t k = 0; k < K; ++k) {
            const float xq = float(q[k]) / sa;
            const float wq = float(P::decode(row, k)) / w.w_scale;
            acc = acc + xq * wq;
          }
          out[n] = acc;
        }
      }
    }
  }
};

}  // namespace detail
MMFREE_NAMESPACE_END
