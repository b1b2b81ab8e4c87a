// SPDX-License-Identifier: MIT
// BitLinear: RMSNorm -> per-token int8 -> ternary product -> rescale. Every dense layer is one.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "../backend/kernels.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/types.hpp"
#include "../model/weights.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief A ternary linear layer with its own input RMSNorm (model-spec.md, BitLinear).
///
/// Holds a non-owning view of packed weights that live in the backend's memory; forward() runs
/// the backend's detail::BitLinearKernel for the policy's <packing, activation, backend>.
/// \tparam Pol mmfree::Policy<Packing, Activation, Backend>
template <PolicyBundle Pol>
class BitLinear {
 public:
  using packing_type = typename Pol::packing;
  using activation_type = typename Pol::activation;
  using backend_type = typename Pol::backend;
  using context_type = typename backend_type::context_type;
  using kernel = detail::BitLinearKernel<packing_type, activation_type, backend_type>;

  BitLinear() = default;
  explicit BitLinear(const TernaryWeights<packing_type>& w) : w_(w) {}

  /// \brief y = BitLinear(x) for each row.
  /// \param x [rows, in_features()] \param y [rows, out_features()], must not alias x
  /// \param act scratch for rows x padded_cols<Packing>(in_features()) codes
  void forward(context_type& ctx, ConstMatrixView<float> x, MatrixView<float> y, const ActScratch& act) const {
    check_shapes(x, y, act);
    kernel::run(ctx, w_, x, y, act);
  }

  /// \brief ys[j] = layers[j]->forward(x) for layers that share the input x (the MLGRU's i/f/g).
  ///
  /// Backends whose kernel has `run_multi` read x once and run all products in one pass; the
  /// others (e.g. Serial) run the layers one after the other. Same results either way.
  template <std::size_t N>
  static void forward_shared_input(context_type& ctx, const std::array<const BitLinear*, N>& layers,
                                   ConstMatrixView<float> x, const std::array<MatrixView<float>, N>& ys,
                                   const ActScratch& act) {
    for (std::size_t j = 0; j < N; ++j) layers[j]->check_shapes(x, ys[j], act);
    std::array<const TernaryWeights<packing_type>*, N> ws;
    for (std::size_t j = 0; j < N; ++j) ws[j] = &layers[j]->w_;
    if constexpr (requires { kernel::run_multi(ctx, ws, x, ys, act); }) {
      kernel::run_multi(ctx, ws, x, ys, act);
    } else {
      for (std::size_t j = 0; j < N; ++j) kernel::run(ctx, *ws[j], x, ys[j], act);
    }
  }

  index_t in_features() const { return w_.cols; }
  index_t out_features() const { return w_.rows; }
  const TernaryWeights<packing_type>& weights() const { return w_; }

 private:
  void check_shapes(ConstMatrixView<float> x, MatrixView<float> y, const ActScratch& act) const {
    if (!(x.cols == w_.cols && y.cols == w_.rows && y.rows == x.rows))
      throw Error("BitLinear [" + std::to_string(w_.rows) + " x " + std::to_string(w_.cols) + "]: input is [" +
              std::to_string(x.rows) + ", " + std::to_string(x.cols) + "], output [" + std::to_string(y.rows) +
              ", " + std::to_string(y.cols) + "]");
    if (!(x.rows <= act.max_rows && x.rows * padded_cols<packing_type>(w_.cols) <= act.capacity))
      throw Error("BitLinear: activation scratch too small for " + std::to_string(x.rows) + " rows");
  }

  TernaryWeights<packing_type> w_;
};

MMFREE_NAMESPACE_END
