// SPDX-License-Identifier: MIT
// One pre-norm block: h += TokenMixer(RMSNorm(h)); h += ChannelMixer(RMSNorm(h)).
#pragma once

#include "../backend/kernels.hpp"
#include "../core/concepts.hpp"
#include "../core/types.hpp"
#include "../model/weights.hpp"
#include "glu.hpp"
#include "mlgru.hpp"
#include "rmsnorm.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief A residual block with a token mixer (MLGRU by default) and a channel mixer (GLU).
///
/// Both mixers are class templates taking the policy, so a user can swap in their own.
template <PolicyBundle Pol, template <PolicyBundle> class TokenMixer = MLGRU,
          template <PolicyBundle> class ChannelMixer = GLU>
class Block {
 public:
  using backend_type = typename Pol::backend;
  using context_type = typename backend_type::context_type;
  using weights_type = LayerWeights<typename Pol::packing>;
  using token_mixer_type = TokenMixer<Pol>;
  using channel_mixer_type = ChannelMixer<Pol>;

  /// Scratch of a block, in backend memory: `a` and `d` are [rows, H].
  struct Scratch {
    MatrixView<float> a, d;
    typename token_mixer_type::Scratch token;
    typename channel_mixer_type::Scratch channel;
    ActScratch act;
  };

  Block() = default;
  Block(const weights_type& w, float eps)
      : attn_norm_(w.attn_norm, w.o_proj.rows, eps),
        attn_(w, eps),
        mlp_norm_(w.mlp_norm, w.o_proj.rows, eps),
        mlp_(w) {}

  /// \brief Runs the block in place on h = [batch*T, H] (row r = b * T + t); state is [batch, H].
  void forward(context_type& ctx, MatrixView<float> h, MatrixView<float> state, index_t batch, index_t T,
               const Scratch& s) const {
    const index_t R = h.rows;
    auto a = s.a.rows_slice(0, R), d = s.d.rows_slice(0, R);
    attn_norm_.forward(ctx, h, a);
    attn_.forward(ctx, a, state, batch, T, d, s.token, s.act);
    detail::Kernels<backend_type>::add(ctx, h, d);
    mlp_norm_.forward(ctx, h, a);
    mlp_.forward(ctx, a, d, s.channel, s.act);
    detail::Kernels<backend_type>::add(ctx, h, d);
  }

  const RMSNorm<Pol>& attn_norm() const { return attn_norm_; }
  const token_mixer_type& attn() const { return attn_; }
  const RMSNorm<Pol>& mlp_norm() const { return mlp_norm_; }
  const channel_mixer_type& mlp() const { return mlp_; }

 private:
  RMSNorm<Pol> attn_norm_;
  token_mixer_type attn_;
  RMSNorm<Pol> mlp_norm_;
  channel_mixer_type mlp_;
};

MMFREE_NAMESPACE_END
