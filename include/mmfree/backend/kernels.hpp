// SPDX-License-Identifier: MIT
// The hooks layers call. Each backend specialises them in backend/<name>/; a combination nobody
// specialises stops compilation with a message naming the missing piece.
#pragma once

#include <cstdint>

#include "../core/concepts.hpp"
#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Scratch for quantised activations, in backend memory (owned by a Workspace).
struct ActScratch {
  std::int8_t* codes = nullptr;   ///< rows x padded K int8 codes
  float* scales = nullptr;        ///< per-row activation scale s_a
  std::int32_t* sums = nullptr;   ///< per-row sum of codes (for offset-encoded packings)
  index_t capacity = 0;           ///< bytes available in `codes`
  index_t max_rows = 0;           ///< rows available in `scales` / `sums`
};

namespace detail {

/// \brief Ternary BitLinear for packing P, activation policy A on backend B:
///
///   y[r] = dequant( quant(RMSNorm(x[r]; w.norm, 1e-6)) . T^T )
///
/// Specialisations provide
///   `static void run(typename B::context_type&, const TernaryWeights<P>&, ConstMatrixView<float> x,
///                    MatrixView<float> y, const ActScratch&)`.
template <class P, class A, class B>
struct BitLinearKernel {
  static_assert(dependent_false<P, A, B>,
                "mmfree: no BitLinear kernel for this <packing, activation, backend> combination "
                "(the template arguments are in the instantiation trace above)");
};

/// \brief Normalisation, recurrence and element-wise kernels of backend B.
///
/// Specialisations provide (rows of a chunk are [batch, T], row r = b * T + t):
///   rmsnorm(ctx, x, w, eps, y)             y[r] = RMSNorm(x[r]) * w
///   add(ctx, h, d)                         h += d
///   embed(ctx, table, ids, out)            out[r] = table[ids[r]]   (ids in backend memory, in range)
///   mlgru_scan(ctx, i, f, lb, state, batch, T)
///        f' = sigmoid(f) (lower-bounded when lb), s = f' * s + silu(i) * (1 - f'); i[r] <- s
///   gated_norm(ctx, g, s, w, eps, out)     out[r] = RMSNorm(g[r]) * w * silu(s[r])
///   glu(ctx, u, v)                         v[r] = silu(u[r][:I]) * u[r][I:]
template <class B>
struct Kernels {
  static_assert(dependent_false<B>, "mmfree: this backend does not provide mmfree::detail::Kernels<B>");
};

}  // namespace detail
MMFREE_NAMESPACE_END
