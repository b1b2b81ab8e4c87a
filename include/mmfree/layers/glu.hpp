// SPDX-License-Identifier: MIT
// GLU channel mixer ("mlp" in the checkpoints).
#pragma once

#include <string>

#include "../backend/kernels.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/types.hpp"
#include "../model/weights.hpp"
#include "bitlinear.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief u = BitLinear_gate(x) (one [2I, H] layer), out = BitLinear_down(silu(u[:I]) * u[I:]).
template <PolicyBundle Pol>
class GLU {
 public:
  using backend_type = typename Pol::backend;
  using context_type = typename backend_type::context_type;
  using weights_type = LayerWeights<typename Pol::packing>;

  /// Scratch in backend memory: u is [rows, 2I], v is [rows, I].
  struct Scratch {
    MatrixView<float> u, v;
  };

  GLU() = default;
  explicit GLU(const weights_type& w) : gate_(w.gate_proj), down_(w.down_proj) {}

  /// \param x [rows, H] normalised input \param out [rows, H] (must not alias x or scratch)
  void forward(context_type& ctx, ConstMatrixView<float> x, MatrixView<float> out, const Scratch& s,
               const ActScratch& act) const {
    const index_t R = x.rows;
    auto u = s.u.rows_slice(0, R), v = s.v.rows_slice(0, R);
    gate_.forward(ctx, x, u, act);
    detail::Kernels<backend_type>::glu(ctx, u, v);
    down_.forward(ctx, v, out, act);
  }

  index_t intermediate_size() const { return down_.in_features(); }
  const BitLinear<Pol>& gate_proj() const { return gate_; }
  const BitLinear<Pol>& down_proj() const { return down_; }

 private:
  BitLinear<Pol> gate_, down_;
};

MMFREE_NAMESPACE_END
