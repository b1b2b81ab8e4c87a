// SPDX-License-Identifier: MIT
// Token data for training: documents joined into one stream, a deterministic held-out split,
// random training windows, held-out evaluation and the unigram baseline it is compared with.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "network.hpp"
#include "params.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// \brief Whether document `index` belongs to the held-out split: documents go in blocks of
/// `block`, and the last block of every round(1 / fraction) is held out (fraction <= 0: none).
/// Interleaved blocks keep both splits spread over the whole text.
inline bool is_held_out(index_t index, double fraction, index_t block = 50) {
  if (!(fraction > 0.0)) return false;
  check(fraction < 1.0, "held-out fraction must be below 1");
  const index_t every = std::max<index_t>(2, index_t(std::llround(1.0 / fraction)));
  return (index / block) % every == every - 1;
}

/// \brief Random windows of T + 1 consecutive tokens of a stream: inputs are the first T, targets
/// the last T. The generator's state is one integer (saved in training checkpoints).
class Batcher {
 public:
  Batcher(std::span<const std::int32_t> stream, index_t T, std::uint64_t seed) : stream_(stream), T_(T), rng_(seed) {
    check(T > 0, "Batcher: sequence length must be positive");
    check(index_t(stream.size()) > T, "training data holds " + std::to_string(stream.size()) +
                                         " tokens, fewer than one window of " + std::to_string(T + 1));
  }
  /// Fills ids and targets with `batch` windows ([batch, T] each).
  void next(index_t batch, std::vector<std::int32_t>& ids, std::vector<std::int32_t>& targets) {
    ids.resize(std::size_t(batch * T_));
    targets.resize(ids.size());
    const std::uint64_t starts = std::uint64_t(index_t(stream_.size()) - T_);
    for (index_t b = 0; b < batch; ++b) {
      const std::size_t s = std::size_t(rng_.below(starts));
      for (index_t t = 0; t < T_; ++t) {
        ids[std::size_t(b * T_ + t)] = stream_[s + std::size_t(t)];
        targets[std::size_t(b * T_ + t)] = stream_[s + std::size_t(t) + 1];
      }
    }
  }
  std::uint64_t rng_state() const { return rng_.s; }
  void set_rng_state(std::uint64_t s) { rng_.s = s; }
  index_t seq_len() const { return T_; }

 private:
  std::span<const std::int32_t> stream_;
  index_t T_;
  SplitMix64 rng_;
};

/// \brief Loss over consecutive windows of T + 1 tokens of `stream` (stride T, so every token
/// after the first is predicted once; each window starts from a zero state), `batch` windows per
/// forward, at most `max_windows` windows (<= 0: all).
inline LossSum evaluate(Network& net, const float* params, std::span<const std::int32_t> stream, index_t batch,
                        index_t T, index_t max_windows = 0) {
  check(batch > 0 && T > 0, "evaluate: batch and sequence length must be positive");
  index_t windows = stream.size() > 1 ? (index_t(stream.size()) - 1) / T : 0;
  if (max_windows > 0) windows = std::min(windows, max_windows);
  LossSum total;
  std::vector<std::int32_t> ids, targets;
  for (index_t w0 = 0; w0 < windows; w0 += batch) {
    const index_t nb = std::min(batch, windows - w0);
    ids.resize(std::size_t(nb * T));
    targets.resize(ids.size());
    for (index_t b = 0; b < nb; ++b)
      for (index_t t = 0; t < T; ++t) {
        const std::size_t s = std::size_t((w0 + b) * T + t);
        ids[std::size_t(b * T + t)] = stream[s];
        targets[std::size_t(b * T + t)] = stream[s + 1];
      }
    const LossSum l = net.forward_backward(params, ids, targets, nb, nullptr);
    total.nll += l.nll;
    total.count += l.count;
  }
  return total;
}

/// \brief Perplexity of a unigram model of the training stream (add-one smoothing over V) on the
/// tokens evaluate() predicts in `held_out` (same windows): the baseline a model must beat.
inline double unigram_perplexity(std::span<const std::int32_t> train, std::span<const std::int32_t> held_out, index_t V,
                                 index_t T, index_t max_windows = 0) {
  std::vector<double> count(std::size_t(V), 1.0);
  for (std::int32_t t : train) {
    check(t >= 0 && t < V, "unigram_perplexity: token id out of range");
    count[std::size_t(t)] += 1.0;
  }
  const double total = double(train.size()) + double(V);
  index_t windows = held_out.size() > 1 ? (index_t(held_out.size()) - 1) / T : 0;
  if (max_windows > 0) windows = std::min(windows, max_windows);
  double nll = 0.0;
  index_t n = 0;
  for (index_t i = 1; i <= windows * T; ++i) {
    const std::int32_t t = held_out[std::size_t(i)];
    check(t >= 0 && t < V, "unigram_perplexity: token id out of range");
    nll -= std::log(count[std::size_t(t)] / total);
    ++n;
  }
  return n > 0 ? std::exp(nll / double(n)) : 0.0;
}

}  // namespace train
MMFREE_NAMESPACE_END
