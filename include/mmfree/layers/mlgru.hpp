// SPDX-License-Identifier: MIT
// MLGRU token mixer ("attn" in the checkpoints): the element-wise gated recurrence that replaces
// attention. State is one f32 vector of H values per sequence.
#pragma once

#include <array>
#include <string>

#include "../backend/kernels.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/types.hpp"
#include "../model/weights.hpp"
#include "bitlinear.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Matmul-free linear GRU (model-spec.md, MLGRU token mixer):
///
///   f = sigmoid(BitLinear_f(x)) [lower-bounded], c = silu(BitLinear_i(x)) * (1 - f),
///   s_t = f_t * s_{t-1} + c_t,  out = BitLinear_o(RMSNorm(BitLinear_g(x); g_norm) * silu(s_t))
///
/// The layer owns no state: the caller passes the [batch, H] state of its sequences.
template <PolicyBundle Pol>
class MLGRU {
 public:
  using backend_type = typename Pol::backend;
  using context_type = typename backend_type::context_type;
  using weights_type = LayerWeights<typename Pol::packing>;

  /// Scratch matrices of [rows, H] each, in backend memory.
  struct Scratch {
    MatrixView<float> i, f, g;
  };

  MLGRU() = default;
  /// \param w the block's weights (only the attn.* part and the lower bound are used)
  /// \param eps eps of g_norm (the config's rms_norm_eps)
  MLGRU(const weights_type& w, float eps)
      : i_(w.i_proj), f_(w.f_proj), g_(w.g_proj), o_(w.o_proj), g_norm_(w.g_norm), lb_(w.lower_bound), eps_(eps) {}

  /// \brief Mixes `batch` sequences of `T` tokens each (row r = b * T + t).
  /// \param x [batch*T, H] normalised input \param state [batch, H], updated to the last step
  /// \param out [batch*T, H] (must not alias x or scratch)
  void forward(context_type& ctx, ConstMatrixView<float> x, MatrixView<float> state, index_t batch, index_t T,
               MatrixView<float> out, const Scratch& s, const ActScratch& act) const {
    const index_t H = o_.out_features();
    if (!(x.rows == batch * T && state.rows >= batch && state.cols == H))
      throw Error("MLGRU: " + std::to_string(x.rows) + " input rows for batch " + std::to_string(batch) + " x T " +
                  std::to_string(T) + ", state [" + std::to_string(state.rows) + ", " + std::to_string(state.cols) +
                  "]");
    const index_t R = x.rows;
    auto i = s.i.rows_slice(0, R), f = s.f.rows_slice(0, R), g = s.g.rows_slice(0, R);
    // i, f and g share their input: backends that can read it once do (BitLinear::forward_shared_input)
    BitLinear<Pol>::forward_shared_input(ctx, std::array<const BitLinear<Pol>*, 3>{&i_, &f_, &g_}, x,
                                         std::array<MatrixView<float>, 3>{i, f, g}, act);
    detail::Kernels<backend_type>::mlgru_scan(ctx, i, f, lb_, state, batch, T);  // i <- states
    detail::Kernels<backend_type>::gated_norm(ctx, g, i, g_norm_, eps_, f);      // f <- o_proj input
    o_.forward(ctx, f, out, act);
  }

  const BitLinear<Pol>& i_proj() const { return i_; }
  const BitLinear<Pol>& f_proj() const { return f_; }
  const BitLinear<Pol>& g_proj() const { return g_; }
  const BitLinear<Pol>& o_proj() const { return o_; }

 private:
  BitLinear<Pol> i_, f_, g_, o_;
  const float* g_norm_ = nullptr;
  const float* lb_ = nullptr;
  float eps_ = 1e-6f;
};

MMFREE_NAMESPACE_END
