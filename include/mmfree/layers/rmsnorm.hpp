// SPDX-License-Identifier: MIT
// RMSNorm layer: y = x / sqrt(mean(x^2) + eps) * w over each row.
#pragma once

#include "../backend/kernels.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Root-mean-square normalisation with a learned per-channel weight.
/// \tparam Pol an mmfree::Policy; only its backend matters here.
template <PolicyBundle Pol>
class RMSNorm {
 public:
  using backend_type = typename Pol::backend;
  using context_type = typename backend_type::context_type;

  RMSNorm() = default;
  /// \param weight [dim] f32 in the backend's memory \param eps added to the mean square
  RMSNorm(const float* weight, index_t dim, float eps) : w_(weight), dim_(dim), eps_(eps) {}

  /// \pre x and y are [rows, dim] in backend memory (y may alias x).
  void forward(context_type& ctx, ConstMatrixView<float> x, MatrixView<float> y) const {
    if (!(x.cols == dim_ && y.cols == dim_ && y.rows == x.rows))
      throw Error("RMSNorm: input is [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "], output [" +
              std::to_string(y.rows) + ", " + std::to_string(y.cols) + "], expected " + std::to_string(dim_) +
              " columns");
    detail::Kernels<backend_type>::rmsnorm(ctx, x, w_, eps_, y);
  }
  const float* weight() const { return w_; }
  index_t dim() const { return dim_; }
  float eps() const { return eps_; }

 private:
  const float* w_ = nullptr;
  index_t dim_ = 0;
  float eps_ = 1e-6f;
};

MMFREE_NAMESPACE_END
