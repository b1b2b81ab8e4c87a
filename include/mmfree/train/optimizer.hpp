// SPDX-License-Identifier: MIT
// AdamW, global-norm gradient clipping and the paper's learning-rate schedule (linear warm-up,
// cosine decay, the rate halved midway). Element-wise over the flat parameter array, split over
// the pool; every reduction runs in a fixed order, so a step is deterministic for a thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/error.hpp"
#include "parallel.hpp"
#include "params.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// \brief Learning rate over training (the MatMul-free paper's recipe, every part configurable).
///
///   step < warmup:  lr * (step + 1) / warmup
///   then:           lr * (min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2),  p = progress after warm-up
///   step >= halve_at * total_steps:  times halve_factor  (the paper halves the rate midway)
struct Schedule {
  float lr = 1.5e-3f;          ///< peak learning rate
  index_t warmup = 100;        ///< linear warm-up steps
  index_t total_steps = 1000;  ///< length of the cosine
  float min_ratio = 0.1f;      ///< floor of the cosine, as a fraction of lr
  float halve_at = 0.5f;       ///< fraction of total_steps where the rate is multiplied by halve_factor (<= 0: never)
  float halve_factor = 0.5f;

  void validate() const {
    check(lr > 0.0f && std::isfinite(lr), "schedule: learning rate must be positive");
    check(total_steps > 0 && warmup >= 0, "schedule: steps must be positive and warm-up non-negative");
    check(min_ratio >= 0.0f && min_ratio <= 1.0f, "schedule: min_ratio must be in [0, 1]");
    check(halve_factor > 0.0f && halve_factor <= 1.0f, "schedule: halve_factor must be in (0, 1]");
  }

  /// Rate of step `step` (0-based).
  float at(index_t step) const {
    double r = 1.0;
    if (step < warmup) {
      r = double(step + 1) / double(warmup);
    } else {
      const double span = double(std::max<index_t>(total_steps - warmup, 1));
      const double p = std::min(1.0, double(step - warmup) / span);
      r = double(min_ratio) + (1.0 - double(min_ratio)) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * p));
    }
    if (halve_at > 0.0f && double(step) >= double(halve_at) * double(total_steps)) r *= double(halve_factor);
    return float(double(lr) * r);
  }
};

/// Hyper-parameters of AdamW (decoupled weight decay, as torch.optim.AdamW).
struct AdamWOptions {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  ///< applied to 2-D weights only (ParamLayout::decayed)
};

/// \brief Global L2 norm of a gradient array (double, summed per tensor in order).
inline double grad_norm(const ParamLayout& L, const float* g) {
  double s = 0.0;
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const float* p = g + L.offsets[k];
    double t = 0.0;
    for (index_t i = 0; i < ParamLayout::numel(L.tensors[k]); ++i) t += double(p[i]) * double(p[i]);
    s += t;
  }
  return std::sqrt(s);
}

/// \brief AdamW over a flat parameter array: its two moments and the step count.
class AdamW {
 public:
  AdamW() = default;
  AdamW(const ParamLayout& L, AdamWOptions opt) : opt_(opt), m_(L), v_(L) {
    check(opt.beta1 >= 0.0f && opt.beta1 < 1.0f && opt.beta2 >= 0.0f && opt.beta2 < 1.0f,
          "AdamW: betas must be in [0, 1)");
    check(opt.eps > 0.0f && opt.weight_decay >= 0.0f, "AdamW: eps must be positive and weight decay non-negative");
    for (std::size_t k = 0; k < L.tensors.size(); ++k)
      if (L.decayed(k)) decayed_.push_back({L.offsets[k], L.offsets[k] + ParamLayout::numel(L.tensors[k])});
  }

  /// One update of `params` with gradient `g` at learning rate `lr` (the gradient is read only).
  void step(ThreadPool& pool, float* params, const float* g, float lr) {
    ++t_;
    const float b1 = opt_.beta1, b2 = opt_.beta2;
    const float c1 = float(1.0 / (1.0 - std::pow(double(b1), double(t_))));
    const float c2 = float(1.0 / (1.0 - std::pow(double(b2), double(t_))));
    float* m = m_.data();
    float* v = v_.data();
    const index_t n = m_.size();
    const float decay = 1.0f - lr * opt_.weight_decay;
    for (const auto& [b, e] : decayed_) {
      pool.parallel_for(e - b, [&](index_t i0, index_t i1, int) {
        for (index_t i = b + i0; i < b + i1; ++i) params[i] *= decay;
      });
    }
    const float eps = opt_.eps;
    pool.parallel_for(n, [&](index_t i0, index_t i1, int) {
      for (index_t i = i0; i < i1; ++i) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        params[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
      }
    });
  }

  const AdamWOptions& options() const { return opt_; }
  void set_weight_decay(float wd) { opt_.weight_decay = wd; }
  std::int64_t steps() const { return t_; }
  void set_steps(std::int64_t t) { t_ = t; }
  ParamBuffer& first_moment() { return m_; }
  ParamBuffer& second_moment() { return v_; }
  const ParamBuffer& first_moment() const { return m_; }
  const ParamBuffer& second_moment() const { return v_; }

 private:
  AdamWOptions opt_;
  ParamBuffer m_, v_;
  std::int64_t t_ = 0;
  std::vector<std::pair<index_t, index_t>> decayed_;
};

/// Scales `g` so its global norm is at most `max_norm` (<= 0: no clipping); returns the norm before.
inline double clip_grad_norm(ThreadPool& pool, const ParamLayout& L, float* g, double max_norm) {
  const double norm = grad_norm(L, g);
  if (max_norm > 0.0 && norm > max_norm) {
    const float s = float(max_norm / (norm + 1e-6));
    pool.parallel_for(L.total, [&](index_t b, index_t e, int) {
      for (index_t i = b; i < e; ++i) g[i] *= s;
    });
  }
  return norm;
}

}  // namespace train
MMFREE_NAMESPACE_END
