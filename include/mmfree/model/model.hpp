// SPDX-License-Identifier: MIT
// The whole MatMul-free LM: embeddings -> L blocks -> final RMSNorm -> ternary lm_head.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend/kernels.hpp"
#include "../backend/reference/row_kernels.hpp"
#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../layers/bitlinear.hpp"
#include "../layers/block.hpp"
#include "../layers/rmsnorm.hpp"
#include "state.hpp"
#include "weights.hpp"
#include "workspace.hpp"

MMFREE_NAMESPACE_BEGIN

namespace detail {
/// \brief Runs `f` (a sequence of kernel hooks) as one program on the backend context: a context
/// with run(F) may record, fuse and replay it (backend::Kokkos does); others just call f.
template <class Ctx, class F>
void run_program(Ctx& ctx, F&& f) {
  if constexpr (requires { ctx.run(f); })
    ctx.run(f);
  else
    f();
}
}  // namespace detail

/// Which positions prefill() returns logits for.
enum class Logits {
  all,  ///< [batch, T, V]: every position
  last  ///< [batch, V]: the last position of each sequence
};

/// \brief An MMfreeLM with compile-time policies.
///
/// \code
///   using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::Int8, mmfree::backend::Serial>;
///   mmfree::Model<Pol> model(mmfree::load_checkpoint<mmfree::packing::I2>("MMfreeLM-370M"));
///   auto ws = model.make_workspace();
///   auto state = model.make_state(1);
///   std::vector<float> logits(model.config().vocab_size);
///   model.prefill(ws, state, prompt_ids, 1, logits, mmfree::Logits::last);
///   model.step(ws, state, {next_id}, logits);   // one token, constant-size state, no allocation
/// \endcode
/// \tparam Pol mmfree::Policy<Packing, Activation, Backend>
template <PolicyBundle Pol>
class Model {
 public:
  using packing_type = typename Pol::packing;
  using backend_type = typename Pol::backend;
  using memory_space = typename backend_type::memory_space;
  using context_type = typename backend_type::context_type;
  using block_type = Block<Pol>;
  using kernels = detail::Kernels<backend_type>;

  /// Takes host weights packed with this packing and moves them to the backend's memory
  /// (host backends adopt the arena without a copy). For backends whose memory the host cannot
  /// read (GPUs), the embedding table stays in host memory: a forward pass needs one row per
  /// token, which is gathered on the host and uploaded (H floats a token instead of V x H values
  /// held on the device).
  explicit Model(HostWeights host) : index_(std::move(host.index)) {
    if (index_.packing != packing_type::name())
      throw Error("weights are packed as '" + index_.packing + "' but the model's packing is '" +
                  std::string(packing_type::name()) + "'");
    index_.config.validate();
    check(host.arena.bytes >= index_.arena_bytes, "weight arena smaller than its index says");
    const std::uint8_t* base = nullptr;
    if constexpr (memory_space::host_accessible) {
      host_arena_ = std::move(host.arena);
      base = host_arena_.base;
    } else {
      const TensorSlot emb = index_.embeddings;
      index_t skip = 0;  // leading arena bytes not uploaded (the embedding table, when it comes first)
      if (emb.offset == 0 && emb.bytes > 0) {
        host_embeddings_.assign(host.arena.base, host.arena.base + emb.bytes);
        skip = std::min(index_.arena_bytes, (emb.bytes + 63) / 64 * 64);  // next slot (64-byte aligned)
      }
      device_arena_ = Buffer<std::uint8_t, memory_space>(index_.arena_bytes - skip);
      memory_space::copy_from_host(device_arena_.data(), host.arena.base + skip,
                                   std::size_t(index_.arena_bytes - skip));
      weights_ = ModelWeights<packing_type>::bind(rebased(index_, skip), device_arena_.data());
      if (skip > 0)
        weights_.embeddings = {host_embeddings_.data(), index_.embedding_dtype, index_.config.vocab_size,
                               index_.config.hidden_size};
    }
    if (base != nullptr) weights_ = ModelWeights<packing_type>::bind(index_, base);
    const float eps = index_.config.rms_norm_eps;
    for (const auto& lw : weights_.layers) blocks_.emplace_back(lw, eps);
    norm_ = RMSNorm<Pol>(weights_.final_norm, index_.config.hidden_size, eps);
    lm_head_ = BitLinear<Pol>(weights_.lm_head);
  }

  const ModelConfig& config() const { return index_.config; }
  const WeightIndex& weight_index() const { return index_; }
  const ModelWeights<packing_type>& weights() const { return weights_; }
  const std::vector<block_type>& blocks() const { return blocks_; }
  const RMSNorm<Pol>& final_norm() const { return norm_; }
  const BitLinear<Pol>& lm_head() const { return lm_head_; }
  /// True when the embedding table is kept in host memory (device backends, see the constructor).
  bool host_embeddings() const { return !host_embeddings_.empty(); }
  /// Bytes of weights held in the backend's memory (the host arena for host backends).
  index_t backend_weight_bytes() const {
    return memory_space::host_accessible ? index_.arena_bytes : device_arena_.size();
  }

  /// A workspace sized for this model.
  Workspace<Pol> make_workspace(WorkspaceOptions opt = {}, context_type ctx = {}) const {
    return Workspace<Pol>(index_.config, opt, std::move(ctx));
  }
  /// A zero state for `batch` sequences.
  State<Pol> make_state(index_t batch) const { return State<Pol>(index_.config, batch); }

  /// \brief Runs `batch` prompts of equal length T = ids.size() / batch (row-major [batch, T])
  /// from `state` (zero for fresh sequences) and leaves the state after the last token.
  /// \param logits host memory: [batch, T, V] for Logits::all, [batch, V] for Logits::last
  void prefill(Workspace<Pol>& ws, State<Pol>& state, std::span<const std::int32_t> ids, index_t batch,
               std::span<float> logits, Logits mode = Logits::all) const {
    const index_t V = index_.config.vocab_size;
    if (batch <= 0 || ids.empty() || index_t(ids.size()) % batch != 0)
      throw Error("prefill: " + std::to_string(ids.size()) + " token ids do not split into " + std::to_string(batch) +
                  " non-empty sequences");
    const index_t T = index_t(ids.size()) / batch;
    check_common(ws, state, ids, batch);
    const index_t want = mode == Logits::all ? batch * T * V : batch * V;
    if (index_t(logits.size()) != want)
      throw Error("prefill: logits buffer holds " + std::to_string(logits.size()) + " floats, expected " +
                  std::to_string(want));
    if (mode == Logits::all && ws.logits_rows() < batch * std::min(T, ws.options().max_chunk))
      throw Error("prefill: Logits::all needs a workspace created with all_logits = true");
    const index_t C = ws.options().max_chunk;
    for (index_t t0 = 0; t0 < T; t0 += C) {
      const index_t Tc = std::min(C, T - t0);
      std::int32_t* staged = ws.host_ids();
      for (index_t b = 0; b < batch; ++b)
        for (index_t t = 0; t < Tc; ++t) staged[b * Tc + t] = ids[std::size_t(b * T + t0 + t)];
      upload_ids(ws, batch * Tc);
      const index_t R = batch * Tc;
      detail::run_program(ws.context(), [&] {
        run_chunk(ws, state, batch, Tc);
        if (mode == Logits::all)
          head(ws, ws.hidden(R), R);
        else if (t0 + Tc == T)
          head_last(ws, batch, Tc);
      });
      if (mode == Logits::all) {
        for (index_t b = 0; b < batch; ++b)
          memory_space::copy_to_host(logits.data() + (b * T + t0) * V, ws.logits(R).row(b * Tc),
                                     std::size_t(Tc * V) * sizeof(float));
      } else if (t0 + Tc == T) {
        memory_space::copy_to_host(logits.data(), ws.logits(batch).data, std::size_t(batch * V) * sizeof(float));
      }
    }
  }

  /// \brief One decoding step: token ids[b] for each of `ids.size()` sequences; writes [batch, V]
  /// logits to host memory. Allocates nothing.
  void step(Workspace<Pol>& ws, State<Pol>& state, std::span<const std::int32_t> ids, std::span<float> logits) const {
    const index_t batch = index_t(ids.size());
    check_common(ws, state, ids, batch);
    if (index_t(logits.size()) != batch * index_.config.vocab_size)
      throw Error("step: logits buffer holds " + std::to_string(logits.size()) + " floats, expected " +
                  std::to_string(batch * index_.config.vocab_size));
    std::int32_t* staged = ws.host_ids();
    for (index_t b = 0; b < batch; ++b) staged[b] = ids[std::size_t(b)];
    upload_ids(ws, batch);
    detail::run_program(ws.context(), [&] {
      run_chunk(ws, state, batch, 1);
      head_last(ws, batch, 1);
    });
    memory_space::copy_to_host(logits.data(), ws.logits(batch).data,
                               std::size_t(batch * index_.config.vocab_size) * sizeof(float));
  }

 private:
  void check_common(Workspace<Pol>& ws, State<Pol>& state, std::span<const std::int32_t> ids, index_t batch) const {
    const index_t V = index_.config.vocab_size;
    if (batch > ws.options().max_batch)
      throw Error("batch of " + std::to_string(batch) + " sequences exceeds the workspace's max_batch " +
                  std::to_string(ws.options().max_batch));
    if (state.batch() < batch || state.layers() != index_t(blocks_.size()) ||
        state.hidden() != index_.config.hidden_size)
      throw Error("state does not match the model / batch (state batch " + std::to_string(state.batch()) + ")");
    for (std::size_t k = 0; k < ids.size(); ++k)
      if (ids[k] < 0 || ids[k] >= V)
        throw Error("token id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                    " is out of range [0, " + std::to_string(V) + ")");
  }

  /// Moves the inputs of `rows` staged token ids to the backend (outside any program, so a
  /// replayed program finds them in the same place): the ids, or the gathered embedding rows.
  void upload_ids(Workspace<Pol>& ws, index_t rows) const {
    if (host_embeddings()) {
      const index_t H = index_.config.hidden_size;
      float* staged = ws.host_rows();
      for (index_t r = 0; r < rows; ++r) ref::embed_row(weights_.embeddings, ws.host_ids()[r], staged + r * H);
      memory_space::copy_from_host(ws.hidden(rows).data, staged, std::size_t(rows * H) * sizeof(float));
    } else {
      memory_space::copy_from_host(ws.ids(), ws.host_ids(), std::size_t(rows) * sizeof(std::int32_t));
    }
  }

  /// Embeds the uploaded ids of `batch` x `Tc` tokens and runs every block; hidden states in ws.hidden().
  void run_chunk(Workspace<Pol>& ws, State<Pol>& state, index_t batch, index_t Tc) const {
    const index_t R = batch * Tc;
    context_type& ctx = ws.context();
    auto h = ws.hidden(R);
    if (!host_embeddings()) kernels::embed(ctx, weights_.embeddings, ws.ids(), h);
    const auto scratch = ws.block_scratch(R);
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      auto st = state.layer(index_t(l)).rows_slice(0, batch);
      blocks_[l].forward(ctx, h, st, batch, Tc, scratch);
    }
  }

  /// Final norm + lm_head of rows x (into ws.logits()).
  void head(Workspace<Pol>& ws, ConstMatrixView<float> x, index_t rows) const {
    auto a = ws.normed(rows);
    norm_.forward(ws.context(), x, a);
    lm_head_.forward(ws.context(), a, ws.logits(rows), ws.act_scratch());
  }

  /// Logits of the last of Tc positions of each sequence, into ws.logits() [batch, V].
  void head_last(Workspace<Pol>& ws, index_t batch, index_t Tc) const {
    const index_t H = index_.config.hidden_size;
    const auto h = ws.hidden(batch * Tc);
    head(ws, ConstMatrixView<float>(h.row(Tc - 1), batch, H, Tc * H), batch);
  }

  /// The index with every slot moved `skip` bytes down (the arena without its first bytes).
  static WeightIndex rebased(WeightIndex idx, index_t skip) {
    auto mv = [skip](TensorSlot& t) { t.offset = t.offset >= skip ? t.offset - skip : 0; };
    auto mvt = [&](TernarySlot& t) { mv(t.codes), mv(t.norm); };
    mv(idx.embeddings), mv(idx.lower_bounds), mv(idx.final_norm), mvt(idx.lm_head);
    for (auto& l : idx.layers) {
      mv(l.attn_norm), mv(l.g_norm), mv(l.mlp_norm);
      for (TernarySlot* t : {&l.i_proj, &l.f_proj, &l.g_proj, &l.o_proj, &l.gate_proj, &l.down_proj}) mvt(*t);
    }
    return idx;
  }

  WeightIndex index_;
  WeightArena host_arena_;
  std::vector<std::uint8_t> host_embeddings_;
  Buffer<std::uint8_t, memory_space> device_arena_;
  ModelWeights<packing_type> weights_;
  std::vector<block_type> blocks_;
  RMSNorm<Pol> norm_;
  BitLinear<Pol> lm_head_;
};

MMFREE_NAMESPACE_END
