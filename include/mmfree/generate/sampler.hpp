// SPDX-License-Identifier: MIT
// Token sampling: greedy, temperature, top-k, min-p, top-p and a repetition penalty, driven by a
// seeded xoshiro256** generator. Every step uses IEEE basic operations, mmfree::math::exp and
// sorts under a strict total order, so a seed gives the same tokens on every platform (no
// std::*_distribution, whose output is implementation-defined). Allocates only at construction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/math.hpp"
#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief How the next token is chosen. Defaults follow llama.cpp's.
///
/// Order of application: repetition penalty -> top-k -> temperature (softmax) -> min-p -> top-p
/// -> draw. temperature <= 0 means greedy (argmax after the penalty; ties go to the lowest id).
struct SamplingParams {
  float temperature = 0.8f;     ///< <= 0: greedy
  index_t top_k = 40;           ///< keep the k most likely tokens; 0: off
  float top_p = 0.95f;          ///< keep the smallest set with probability >= top_p; 1: off
  float min_p = 0.05f;          ///< drop tokens below min_p * p(most likely); 0: off
  float repeat_penalty = 1.0f;  ///< > 1 discourages tokens of the last repeat_last_n; 1: off
  index_t repeat_last_n = 64;   ///< window of the repetition penalty (tokens)
  std::uint64_t seed = 0;       ///< same seed, same tokens, on every platform

  /// Throws mmfree::Error naming the first parameter out of range.
  void validate() const {
    check(temperature == temperature, "sampling: temperature is NaN");
    check(top_k >= 0, "sampling: top_k must be >= 0");
    check(top_p > 0.0f && top_p <= 1.0f, "sampling: top_p must be in (0, 1]");
    check(min_p >= 0.0f && min_p <= 1.0f, "sampling: min_p must be in [0, 1]");
    check(repeat_penalty > 0.0f, "sampling: repeat_penalty must be positive");
    check(repeat_last_n >= 0 && repeat_last_n <= (index_t(1) << 20), "sampling: repeat_last_n must be in [0, 2^20]");
  }
};

/// \brief xoshiro256** seeded through splitmix64: the same numbers on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& w : s_) {  // splitmix64
      std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      w = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform double in [0, 1) with 53 random bits (exact conversion).
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  const std::uint64_t* state() const { return s_; }
  void set_state(const std::uint64_t* s) { std::memcpy(s_, s, sizeof(s_)); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4] = {};
};

/// \brief Chooses tokens from logits for one sequence; remembers its recent tokens for the
/// repetition penalty and owns its scratch (no allocation after construction).
class Sampler {
 public:
  Sampler() = default;
  Sampler(index_t vocab, SamplingParams p) : params_(p), vocab_(vocab), rng_(p.seed) {
    p.validate();
    check(vocab > 0, "Sampler: vocabulary size must be positive");
    cand_.resize(std::size_t(vocab));
    stamp_.assign(std::size_t(vocab), 0);
    ring_.assign(std::size_t(std::max<index_t>(p.repeat_last_n, 1)), -1);
  }

  const SamplingParams& params() const { return params_; }
  index_t vocab() const { return vocab_; }

  /// Forgets the recent tokens and reseeds the generator with params().seed.
  void reset() {
    std::fill(ring_.begin(), ring_.end(), -1);
    ring_pos_ = 0;
    rng_.reseed(params_.seed);
  }

  /// Records a token of the context (prompt or generated) for the repetition penalty.
  void accept(std::int32_t id) {
    if (params_.repeat_last_n == 0) return;
    ring_[ring_pos_] = id;
    ring_pos_ = (ring_pos_ + 1) % ring_.size();
  }

  /// \brief The next token for `logits` ([vocab] values; not modified).
  std::int32_t sample(std::span<const float> logits) {
    check(index_t(logits.size()) == vocab_, "Sampler::sample: logits size differs from the vocabulary");
    const index_t V = vocab_;
    for (index_t i = 0; i < V; ++i) cand_[std::size_t(i)] = {logits[std::size_t(i)], std::int32_t(i)};
    apply_penalty();
    if (!(params_.temperature > 0.0f)) {
      std::size_t best = 0;
      for (std::size_t i = 1; i < std::size_t(V); ++i)
        if (cand_[i].logit > cand_[best].logit) best = i;  // NaN never wins; ties keep the lowest id
      return cand_[best].id;
    }
    // strict total order: higher logit first, then lower id
    auto before = [](const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
    for (auto& c : cand_)
      if (c.logit != c.logit) c.logit = -HUGE_VALF;  // NaN logits never win
    std::size_t n = std::size_t(V);
    if (params_.top_k > 0 && std::size_t(params_.top_k) < n) {
      std::nth_element(cand_.begin(), cand_.begin() + params_.top_k - 1, cand_.begin() + std::ptrdiff_t(n), before);
      n = std::size_t(params_.top_k);
    }
    // softmax with temperature (weights relative to the largest logit)
    float mx = cand_[0].logit;
    for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, cand_[i].logit);
    if (!(mx > -HUGE_VALF && mx < HUGE_VALF))  // infinite logits: the first in order wins
      return std::min_element(cand_.begin(), cand_.begin() + std::ptrdiff_t(n), before)->id;
    const float T = params_.temperature;
    for (std::size_t i = 0; i < n; ++i) cand_[i].logit = math::exp((cand_[i].logit - mx) / T);  // now weights, max = 1
    // min-p: keep weights >= min_p * max weight (= min_p)
    if (params_.min_p > 0.0f) {
      std::size_t k = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (cand_[i].logit >= params_.min_p) cand_[k++] = cand_[i];
      n = std::max<std::size_t>(k, 1);
    }
    std::sort(cand_.begin(), cand_.begin() + std::ptrdiff_t(n), before);
    if (params_.top_p < 1.0f) {
      double total = 0.0;
      for (std::size_t i = 0; i < n; ++i) total += double(cand_[i].logit);
      const double want = double(params_.top_p) * total;
      double cum = 0.0;
      std::size_t k = 0;
      while (k < n) {
        cum += double(cand_[k].logit);
        ++k;
        if (cum >= want) break;
      }
      n = k;
    }
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) total += double(cand_[i].logit);
    const double u = rng_.uniform() * total;
    double cum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      cum += double(cand_[i].logit);
      if (u < cum) return cand_[i].id;
    }
    return cand_[n - 1].id;
  }

  /// Bytes save_state() writes.
  std::size_t state_bytes() const { return 4 * 8 + 8 + ring_.size() * 4; }
  /// Generator and recent tokens, to continue exactly where this sampler stands.
  void save_state(std::uint8_t* out) const {
    std::memcpy(out, rng_.state(), 32);
    const std::uint64_t pos = ring_pos_;
    std::memcpy(out + 32, &pos, 8);
    std::memcpy(out + 40, ring_.data(), ring_.size() * 4);
  }
  void load_state(const std::uint8_t* in) {
    std::uint64_t s[4];
    std::memcpy(s, in, 32);
    rng_.set_state(s);
    std::uint64_t pos;
    std::memcpy(&pos, in + 32, 8);
    check(pos < ring_.size(), "Sampler: saved state does not match repeat_last_n");
    ring_pos_ = std::size_t(pos);
    std::memcpy(ring_.data(), in + 40, ring_.size() * 4);
  }

 private:
  struct Cand {
    float logit;
    std::int32_t id;
  };
  void apply_penalty() {
    const float pen = params_.repeat_penalty;
    if (pen == 1.0f || params_.repeat_last_n == 0) return;
    ++epoch_;
    if (epoch_ == 0) std::fill(stamp_.begin(), stamp_.end(), 0), epoch_ = 1;
    for (std::int32_t id : ring_) {
      if (id < 0 || id >= vocab_ || stamp_[std::size_t(id)] == epoch_) continue;
      stamp_[std::size_t(id)] = epoch_;  // each distinct token once (llama.cpp's rule)
      float& l = cand_[std::size_t(id)].logit;
      l = l > 0.0f ? l / pen : l * pen;
    }
  }

  SamplingParams params_;
  index_t vocab_ = 0;
  Rng rng_;
  std::vector<Cand> cand_;
  std::vector<std::uint32_t> stamp_;
  std::uint32_t epoch_ = 0;
  std::vector<std::int32_t> ring_;
  std::size_t ring_pos_ = 0;
};

MMFREE_NAMESPACE_END
