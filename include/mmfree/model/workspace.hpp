// SPDX-License-Identifier: MIT
// Scratch memory of a model run, allocated once for a maximum batch and chunk length.
#pragma once

#include <algorithm>
#include <vector>

#include "../backend/kernels.hpp"
#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/model_config.hpp"
#include "../layers/block.hpp"

MMFREE_NAMESPACE_BEGIN

/// Sizes of a Workspace.
struct WorkspaceOptions {
  index_t max_batch = 1;    ///< sequences run together
  index_t max_chunk = 64;   ///< prompt tokens per sequence processed at once (longer prompts run in chunks)
  bool all_logits = true;   ///< room for logits of every position (else: the last position only)
};

/// \brief All scratch buffers of a forward pass, in the backend's memory, plus the backend's
/// run-time context (threads, streams). Create once; reuse for every call.
template <PolicyBundle Pol>
class Workspace {
 public:
  using backend_type = typename Pol::backend;
  using context_type = typename backend_type::context_type;
  using memory_space = typename backend_type::memory_space;
  template <class T>
  using buffer = Buffer<T, memory_space>;

  Workspace(const ModelConfig& cfg, WorkspaceOptions opt = {}, context_type ctx = {})
      : opt_(opt), ctx_(std::move(ctx)) {
    check(opt.max_batch > 0 && opt.max_chunk > 0, "Workspace: max_batch and max_chunk must be positive");
    const index_t R = opt.max_batch * opt.max_chunk;
    const index_t H = cfg.hidden_size, I = cfg.intermediate_size;
    hidden_ = H;
    inter_ = I;
    vocab_ = cfg.vocab_size;
    h_ = buffer<float>(R * H);
    a_ = buffer<float>(R * H);
    d_ = buffer<float>(R * H);
    i_ = buffer<float>(R * H);
    f_ = buffer<float>(R * H);
    g_ = buffer<float>(R * H);
    u_ = buffer<float>(R * 2 * I);
    v_ = buffer<float>(R * I);
    logits_rows_ = opt.all_logits ? R : opt.max_batch;
    logits_ = buffer<float>(logits_rows_ * cfg.vocab_size);
    // Codes are padded to whole blocks of the packing. Room for the codes of the three MLGRU
    // projections at once (backends that quantise a shared input once per projection use it).
    using Pk = typename Pol::packing;
    const index_t max_k = std::max(padded_cols<Pk>(std::max(H, I)), 3 * padded_cols<Pk>(H));
    codes_ = buffer<std::int8_t>(R * max_k);
    scales_ = buffer<float>(3 * R);
    sums_ = buffer<std::int32_t>(3 * R);
    ids_ = buffer<std::int32_t>(R);
    host_ids_.assign(std::size_t(R), 0);
    // Device backends keep the embedding table on the host: rows are gathered here, then uploaded.
    if constexpr (!memory_space::host_accessible) host_rows_.assign(std::size_t(R * H), 0.0f);
  }

  context_type& context() { return ctx_; }
  const WorkspaceOptions& options() const { return opt_; }
  index_t max_rows() const { return opt_.max_batch * opt_.max_chunk; }
  index_t logits_rows() const { return logits_rows_; }

  /// Scratch views for `rows` rows of a Block (MLGRU + GLU).
  typename Block<Pol>::Scratch block_scratch(index_t rows) const {
    typename Block<Pol>::Scratch s;
    s.a = a_.matrix(rows, hidden_);
    s.d = d_.matrix(rows, hidden_);
    s.token = {i_.matrix(rows, hidden_), f_.matrix(rows, hidden_), g_.matrix(rows, hidden_)};
    s.channel = {u_.matrix(rows, 2 * inter_), v_.matrix(rows, inter_)};
    s.act = act_scratch();
    return s;
  }
  ActScratch act_scratch() const { return ActScratch{codes_.data(), scales_.data(), sums_.data(), codes_.size(), scales_.size()}; }
  MatrixView<float> hidden(index_t rows) const { return h_.matrix(rows, hidden_); }
  MatrixView<float> normed(index_t rows) const { return a_.matrix(rows, hidden_); }
  MatrixView<float> logits(index_t rows) const { return logits_.matrix(rows, vocab_); }
  std::int32_t* ids() const { return ids_.data(); }
  /// Host staging area for token ids (max_rows() entries), filled before copying to ids().
  std::int32_t* host_ids() { return host_ids_.data(); }
  /// Host staging area for embedding rows (max_rows() x H floats; empty for host-memory backends).
  float* host_rows() { return host_rows_.data(); }

 private:
  WorkspaceOptions opt_;
  context_type ctx_;
  index_t hidden_ = 0, inter_ = 0, vocab_ = 0, logits_rows_ = 0;
  buffer<float> h_, a_, d_, i_, f_, g_, u_, v_, logits_;
  buffer<std::int8_t> codes_;
  buffer<float> scales_;
  buffer<std::int32_t> sums_, ids_;
  std::vector<std::int32_t> host_ids_;
  std::vector<float> host_rows_;
};

MMFREE_NAMESPACE_END
