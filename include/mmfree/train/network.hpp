// SPDX-License-Identifier: MIT
// Forward and backward of an hgrn_bit model in f32 with the straight-through estimator
// (model-spec.md "Training"). The forward is the inference model's function: every non-integer
// step reuses the reference row functions, and the ternary products are exact integers computed
// by f32 GEMMs, so logits equal act::Int8 bit for bit and act::FakeQuant within f32 rounding.
// Like upstream's fused BitLinear, normalised and quantised activations are never stored: the
// backward recomputes them from the BitLinear's input.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/buffer.hpp"
#include "../core/error.hpp"
#include "../core/math.hpp"
#include "../core/quantize.hpp"
#include "../backend/reference/row_kernels.hpp"
#include "../io/checkpoint.hpp"
#include "gemm.hpp"
#include "parallel.hpp"
#include "params.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// Summed negative log-likelihood of a batch and the number of positions counted.
struct LossSum {
  double nll = 0.0;
  index_t count = 0;
  /// Mean cross-entropy (0 when nothing was counted).
  double mean() const { return count > 0 ? nll / double(count) : 0.0; }
};

/// \brief Targets as upstream builds them from labels = ids: position t predicts ids[t + 1];
/// the last position of each row is ignored (-1).
inline std::vector<std::int32_t> shifted_targets(std::span<const std::int32_t> ids, index_t batch) {
  check(batch > 0 && !ids.empty() && index_t(ids.size()) % batch == 0, "shifted_targets: ids do not split into rows");
  const index_t T = index_t(ids.size()) / batch;
  std::vector<std::int32_t> t(ids.size(), -1);
  for (index_t b = 0; b < batch; ++b)
    for (index_t k = 0; k + 1 < T; ++k) t[std::size_t(b * T + k)] = ids[std::size_t(b * T + k + 1)];
  return t;
}

/// Options of a Network.
struct NetworkOptions {
  /// false: both quantisers become the identity (a full-precision model whose true gradient is
  /// exactly what the straight-through backward computes): for finite-difference checks.
  bool quantize = true;
  /// Least work (in values) worth a thread: loops and products smaller than this run on the
  /// calling thread. 1 splits everything (tests of the threaded paths).
  index_t grain = 16384;
};

/// \brief The trainable model: forward, loss and backward over a flat parameter array.
///
/// \code
///   train::ThreadPool pool(2);
///   train::Network net(cfg, pool);
///   train::ParamBuffer params(net.layout()), grads(net.layout());
///   train::init_parameters(net.layout(), params, /*seed=*/1);
///   auto targets = train::shifted_targets(ids, batch);
///   train::LossSum l = net.forward_backward(params.data(), ids, targets, batch, grads.data());
/// \endcode
/// Buffers grow to the largest batch seen and are reused; not thread-safe (it uses the pool).
class Network {
 public:
  Network(const ModelConfig& cfg, ThreadPool& pool, NetworkOptions opt = {})
      : layout_(ParamLayout::of(cfg)), pool_(&pool), opt_(opt) {
    const index_t H = cfg.hidden_size, I = cfg.intermediate_size;
    // Exact f32 integer sums need |acc| <= 127 * K < 2^24.
    check(std::max(H, I) <= 131072, "training: hidden and intermediate sizes above 131072 are not supported");
    linears_ = layout_.linears();
    index_t tern = 0;
    for (const auto& s : linears_) {
      tern_offset_.push_back(tern);
      tern += s.rows * s.cols;
    }
    tern_ = Buffer<float, HostSpace>(tern);
    w_scale_.assign(linears_.size(), 1.0f);
    lb_ = Buffer<float, HostSpace>(cfg.num_layers * H);
    lb_p_.assign(std::size_t(cfg.num_layers * H), 0.0);
    max_k_ = std::max(H, I);
    partial_ = Buffer<float, HostSpace>(index_t(pool.size()) * std::max(max_k_, H));
  }

  const ParamLayout& layout() const { return layout_; }
  const ModelConfig& config() const { return layout_.config; }
  ThreadPool& pool() { return *pool_; }

  /// \brief Loss of `batch` rows of ids ([batch, T] row-major) against `targets` (same shape,
  /// -1 = not counted); with `grads` (a layout-sized array) also the gradient of the MEAN loss,
  /// written over whatever `grads` held.
  LossSum forward_backward(const float* params, std::span<const std::int32_t> ids,
                           std::span<const std::int32_t> targets, index_t batch, float* grads) {
    const index_t T = check_batch(ids, batch);
    check(targets.size() == ids.size(), "forward_backward: targets and ids differ in size");
    const index_t V = config().vocab_size;
    index_t count = 0;
    for (std::size_t k = 0; k < targets.size(); ++k) {
      if (targets[k] < -1 || targets[k] >= V)
        throw Error("target " + std::to_string(targets[k]) + " at position " + std::to_string(k) +
                    " is out of range [0, " + std::to_string(V) + ") (-1 = ignored)");
      count += targets[k] >= 0;
    }
    prepare(params);
    forward_layers(params, ids, batch, T);
    if (grads != nullptr) std::fill(grads, grads + layout_.total, 0.0f);
    LossSum loss;
    head(params, grads, targets.data(), count, loss, nullptr);
    loss.count = count;
    if (grads != nullptr) backward_layers(params, grads, ids, batch, T);
    return loss;
  }

  /// Logits [batch, T, V] of the training forward (the inference model's function).
  void forward_logits(const float* params, std::span<const std::int32_t> ids, index_t batch, std::span<float> logits) {
    const index_t T = check_batch(ids, batch);
    check(index_t(logits.size()) == batch * T * config().vocab_size, "forward_logits: logits buffer has the wrong size");
    prepare(params);
    forward_layers(params, ids, batch, T);
    LossSum unused;
    head(params, nullptr, nullptr, 0, unused, logits.data());
  }

  /// Bytes of the buffers whose size grows with the tokens of a batch (stored activations and
  /// backward scratch), for the largest batch run so far.
  std::size_t activation_bytes() const { return std::size_t(act_.bytes() + scratch_.bytes()); }
  /// Bytes of the per-step weight copies (ternary codes as floats, lower bounds) and reductions.
  std::size_t weight_scratch_bytes() const {
    return std::size_t(tern_.bytes() + lb_.bytes() + partial_.bytes() + logit_.bytes()) +
           lb_p_.size() * sizeof(double);
  }
  /// Floats stored per token of context for the backward (everything else is recomputed).
  index_t stored_floats_per_token() const { return stored_per_row(); }

 private:
  /// Rows per piece of a row loop over `cols` values (about 16k values a piece).
  index_t row_grain(index_t cols) const { return std::max<index_t>(1, opt_.grain / std::max<index_t>(1, cols)); }

  /// Least multiply-adds per GEMM piece.
  index_t gemm_grain() const { return opt_.grain * 16; }

  // ---- sizes and buffers ------------------------------------------------------------------
  index_t stored_per_row() const {
    const index_t H = config().hidden_size, I = config().intermediate_size;
    return config().num_layers * (6 * H + 2 * I) + H;
  }
  index_t scratch_per_row() const {
    const index_t H = config().hidden_size, I = config().intermediate_size;
    // xq, dy: [maxK]; a, o, d, dh, dx, dg, ds, df: [H]; v, dv: [I]; u-grad: [2I]; row scale/rinv
    return 2 * max_k_ + 8 * H + 4 * I + 2;
  }

  index_t check_batch(std::span<const std::int32_t> ids, index_t batch) const {
    if (batch <= 0 || ids.empty() || index_t(ids.size()) % batch != 0)
      throw Error("training: " + std::to_string(ids.size()) + " token ids do not split into " + std::to_string(batch) +
                  " non-empty rows");
    const index_t V = config().vocab_size;
    for (std::size_t k = 0; k < ids.size(); ++k)
      if (ids[k] < 0 || ids[k] >= V)
        throw Error("token id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                    " is out of range [0, " + std::to_string(V) + ")");
    return index_t(ids.size()) / batch;
  }

  void reserve(index_t R, index_t batch) {
    const index_t H = config().hidden_size, I = config().intermediate_size;
    if (R > rows_cap_) {
      act_ = Buffer<float, HostSpace>(R * stored_per_row());
      scratch_ = Buffer<float, HostSpace>(R * scratch_per_row());
      rows_cap_ = R;
    }
    if (batch * H > state_.size()) state_ = Buffer<float, HostSpace>(batch * H);
    const index_t chunk = std::min<index_t>(R, 256);
    if (chunk * config().vocab_size > logit_.size()) logit_ = Buffer<float, HostSpace>(chunk * config().vocab_size);
    R_ = R;
    float* p = scratch_.data();
    auto take = [&](index_t cols) {
      MatrixView<float> v(p, R, cols);
      p += R * cols;
      return v;
    };
    xq_ = take(max_k_);
    dy_ = take(max_k_);
    t_a_ = take(H);
    t_o_ = take(H);
    t_d_ = take(H);
    dh_ = take(H);
    dx_ = take(H);
    dg_ = take(H);
    ds_ = take(H);
    df_ = take(H);
    t_v_ = take(I);
    dv_ = take(I);
    du_ = take(2 * I);
    row_scale_ = p;
    row_rinv_ = p + R;
  }

  /// Stored activations of layer l: h_in, i, f, g, s, r [R, H] and u [R, 2I].
  struct LayerActs {
    MatrixView<float> h, i, f, g, s, r, u;
  };
  LayerActs acts(index_t l) const {
    const index_t H = config().hidden_size, I = config().intermediate_size, R = R_;
    float* p = act_.data() + l * R * (6 * H + 2 * I);
    LayerActs a;
    MatrixView<float>* hs[] = {&a.h, &a.i, &a.f, &a.g, &a.s, &a.r};
    for (auto* v : hs) {
      *v = MatrixView<float>(p, R, H);
      p += R * H;
    }
    a.u = MatrixView<float>(p, R, 2 * I);
    return a;
  }
  MatrixView<float> final_hidden() const {
    const index_t H = config().hidden_size;
    return MatrixView<float>(act_.data() + config().num_layers * R_ * (6 * H + 2 * config().intermediate_size), R_, H);
  }

  // ---- per-step weight preparation ---------------------------------------------------------
  /// Ternary codes (as floats) and scales of every BitLinear, lower bounds: as the loader does.
  void prepare(const float* params) {
    for (std::size_t k = 0; k < linears_.size(); ++k) {
      const LinearSlot& s = linears_[k];
      const float* w = params + s.weight;
      const index_t n = s.rows * s.cols;
      double abs_sum = 0.0;  // sequential, as io::pack_checkpoint: the same scale to the last bit
      for (index_t i = 0; i < n; ++i) abs_sum += std::fabs(double(w[i]));
      const float ws = opt_.quantize ? ref::weight_scale_from_abs_sum(abs_sum, double(n)) : 1.0f;
      w_scale_[k] = ws;
      float* t = tern_.data() + tern_offset_[k];
      const bool quantize = opt_.quantize;
      pool_->parallel_for(n, [&](index_t b, index_t e, int) {
        if (!quantize) {
          std::copy(w + b, w + e, t + b);
          return;
        }
        // ref::ternarize_value without branches: clamp(round_half_even(v), -1, 1) is
        // (v > 0.5) - (v < -0.5) for every finite v (a tie at +-0.5 rounds to 0).
        for (index_t i = b; i < e; ++i) {
          const float v = w[i] * ws;
          t[i] = (v > 0.5f ? 1.0f : 0.0f) - (v < -0.5f ? 1.0f : 0.0f);
        }
      }, opt_.grain);
    }
    const ModelConfig& c = config();
    if (c.use_lower_bound) {
      const float* z = params + layout_.lower_bounds;  // the loader's arithmetic: the same bits
      io::lower_bounds_transform([z](index_t i) { return z[i]; }, c.num_layers, c.hidden_size, lb_.data(),
                                 lb_p_.data());
    }
  }

  /// A BitLinear's prepared weights and where its gradients go.
  struct Linear {
    const float* tern;  // [rows, cols] codes in {-1, 0, 1}
    const float* norm;  // [cols]
    float w_scale;      // 1 / beta
    index_t rows, cols;
    float* dweight;     // [rows, cols] or nullptr
    float* dnorm;       // [cols] or nullptr
  };
  Linear linear(std::size_t k, const float* params, float* grads) const {
    const LinearSlot& s = linears_[k];
    return Linear{tern_.data() + tern_offset_[k], params + s.norm, w_scale_[k], s.rows, s.cols,
                  grads ? grads + s.weight : nullptr, grads ? grads + s.norm : nullptr};
  }
  std::size_t linear_index(index_t layer, int which) const { return std::size_t(layer * 6 + which); }

  // ---- BitLinear ----------------------------------------------------------------------------
  /// Per-row RMSNorm + absmax int8 of x into xq_ (codes when `dequantised` is false, q / s_a when
  /// true), s_a and 1/rms into row_scale_ / row_rinv_. Same values as ref::norm_quantize_row.
  void quantize_rows(const Linear& w, ConstMatrixView<float> x, bool dequantised) {
    const index_t K = w.cols;
    const bool quantize = opt_.quantize;
    pool_->parallel_for(x.rows, [&](index_t r0, index_t r1, int) {
      for (index_t r = r0; r < r1; ++r) {
        const float* MMFREE_RESTRICT xr = x.row(r);
        const float* MMFREE_RESTRICT nw = w.norm;
        float* MMFREE_RESTRICT q = xq_.row(r);
        const float rinv = ref::rms_inv(xr, K, bitlinear_norm_eps);
        float amax = 0.0f;
        for (index_t k = 0; k < K; ++k) {
          const float y = xr[k] * rinv * nw[k];
          q[k] = y;
          const float a = y < 0.0f ? -y : y;
          amax = a > amax ? a : amax;
        }
        row_rinv_[r] = rinv;
        if (!quantize) {
          row_scale_[r] = 1.0f;
          continue;
        }
        const float sa = ref::act_scale_from_absmax(amax);
        row_scale_[r] = sa;
        // ref::quantize_value written without branches so it vectorises: |y * s_a| <= 127 (s_a
        // comes from this row's absmax), far below 2^23, where this is round_half_away exactly.
        for (index_t k = 0; k < K; ++k) {
          const float v = q[k] * sa;
          const float a = v < 0.0f ? -v : v;
          const float f = float(std::int32_t(a));  // floor, as a >= 0
          const float t = f + (a - f >= 0.5f ? 1.0f : 0.0f);
          const float c = t > 127.0f ? 127.0f : t;  // -128 cannot occur: |v| <= 127
          q[k] = v < 0.0f ? -c : c;
        }
        if (dequantised)
          for (index_t k = 0; k < K; ++k) q[k] = q[k] / sa;
      }
    }, row_grain(K));
  }

  /// out = BitLinear(x): integer-valued f32 GEMM (exact), then acc * beta / s_a (ref::dequantize).
  void bl_forward(const Linear& w, ConstMatrixView<float> x, MatrixView<float> out) {
    const index_t R = x.rows;
    quantize_rows(w, x, false);
    ConstMatrixView<float> q(xq_.data, R, w.cols, xq_.stride);
    gemm::abt(*pool_, q, ConstMatrixView<float>(w.tern, w.rows, w.cols), out, false, gemm_grain());
    if (!opt_.quantize) return;
    pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
      for (index_t r = r0; r < r1; ++r) {
        float* o = out.row(r);
        const float sa = row_scale_[r];
        for (index_t n = 0; n < w.rows; ++n) o[n] = ref::dequantize(std::int32_t(o[n]), sa, w.w_scale);
      }
    }, row_grain(w.rows));
  }

  /// Straight-through backward of a BitLinear given its input x and dout:
  /// dW += dout^T . y_hat, dy = dout . W_hat, then RMSNorm backward: dx += ..., dnorm += ...
  void bl_backward(const Linear& w, ConstMatrixView<float> x, ConstMatrixView<float> dout, MatrixView<float> dx) {
    const index_t R = x.rows, K = w.cols;
    quantize_rows(w, x, true);  // recompute y_hat = q / s_a instead of having stored it
    ConstMatrixView<float> yhat(xq_.data, R, K, xq_.stride);
    gemm::atb(*pool_, dout, yhat, MatrixView<float>(w.dweight, w.rows, K), true, gemm_grain());
    MatrixView<float> dy(dy_.data, R, K, dy_.stride);
    gemm::ab(*pool_, dout, ConstMatrixView<float>(w.tern, w.rows, K), dy, false, gemm_grain());
    norm_backward(x, w.norm, row_rinv_, 1.0f / w.w_scale, dy, dx, w.dnorm);
  }

  /// RMSNorm backward for y = x * rinv * w given dy * scale (dy is overwritten): dx += ...,
  /// dw += sum over rows of dy * x * rinv. Per-thread partial sums, added in thread order.
  void norm_backward(ConstMatrixView<float> x, const float* w, const float* rinv, float scale, MatrixView<float> dy,
                     MatrixView<float> dx, float* dw) {
    const index_t R = x.rows, K = x.cols;
    const int threads = pool_->size();
    std::fill(partial_.data(), partial_.data() + index_t(threads) * K, 0.0f);
    pool_->parallel_for(R, [&](index_t r0, index_t r1, int t) {
      float* part = partial_.data() + index_t(t) * K;
      for (index_t r = r0; r < r1; ++r) {
        const float* xr = x.row(r);
        float* g = dy.row(r);
        const float ri = rinv[r];
        double c1 = 0.0;
        for (index_t k = 0; k < K; ++k) {
          const float gk = g[k] * scale;
          const float xh = xr[k] * ri;
          part[k] += gk * xh;
          g[k] = gk * w[k];
          c1 += double(xh) * double(g[k]);
        }
        const float c = float(c1 / double(K));
        float* d = dx.row(r);
        for (index_t k = 0; k < K; ++k) d[k] += (g[k] - xr[k] * ri * c) * ri;
      }
    }, row_grain(K));
    if (dw != nullptr)
      for (int t = 0; t < threads; ++t) {
        const float* part = partial_.data() + index_t(t) * K;
        for (index_t k = 0; k < K; ++k) dw[k] += part[k];
      }
  }

  /// Backward of a model RMSNorm (attn_norm, mlp_norm, final norm): x, its weight, dy (scratch).
  void rmsnorm_backward(ConstMatrixView<float> x, const float* w, MatrixView<float> dy, MatrixView<float> dx,
                        float* dw) {
    const float eps = config().rms_norm_eps;
    pool_->parallel_for(x.rows, [&](index_t r0, index_t r1, int) {
      for (index_t r = r0; r < r1; ++r) row_rinv_[r] = ref::rms_inv(x.row(r), x.cols, eps);
    }, row_grain(x.cols));
    norm_backward(x, w, row_rinv_, 1.0f, dy, dx, dw);
  }

  void rmsnorm(ConstMatrixView<float> x, const float* w, MatrixView<float> y) {
    const float eps = config().rms_norm_eps;
    pool_->parallel_for(x.rows, [&](index_t r0, index_t r1, int) {
      for (index_t r = r0; r < r1; ++r) ref::rmsnorm_row(x.row(r), w, x.cols, eps, y.row(r));
    }, row_grain(x.cols));
  }

  // ---- the model ----------------------------------------------------------------------------
  void forward_layers(const float* params, std::span<const std::int32_t> ids, index_t batch, index_t T) {
    const ModelConfig& c = config();
    const index_t H = c.hidden_size, I = c.intermediate_size, R = batch * T;
    reserve(R, batch);
    {  // embeddings
      auto h = acts(0).h;
      const float* E = params + layout_.embeddings;
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r) std::copy_n(E + index_t(ids[std::size_t(r)]) * H, H, h.row(r));
      }, row_grain(H));
    }
    for (index_t l = 0; l < c.num_layers; ++l) {
      const LayerSlot& ls = layout_.layers[std::size_t(l)];
      LayerActs A = acts(l);
      MatrixView<float> h_out = l + 1 < c.num_layers ? acts(l + 1).h : final_hidden();
      auto a = t_a_, o = t_o_, d = t_d_, v = t_v_;
      rmsnorm(A.h, params + ls.attn_norm, a);
      bl_forward(linear(linear_index(l, 0), params, nullptr), a, A.i);
      bl_forward(linear(linear_index(l, 1), params, nullptr), a, A.f);
      bl_forward(linear(linear_index(l, 2), params, nullptr), a, A.g);
      // recurrence (ref::mlgru_channel: the inference arithmetic), parallel over channels
      const float* lb = lower_bound(l);
      std::fill(state_.data(), state_.data() + batch * H, 0.0f);
      pool_->parallel_for(H, [&](index_t d0, index_t d1, int) {
        for (index_t b = 0; b < batch; ++b)
          for (index_t dd = d0; dd < d1; ++dd) {
            for (index_t t = 0; t < T; ++t) A.s(b * T + t, dd) = A.i(b * T + t, dd);
            ref::mlgru_channel(A.s.row(b * T), A.s.stride, A.f.row(b * T), A.f.stride, T, lb, state_.data() + b * H, dd);
          }
      }, std::max<index_t>(1, opt_.grain / (batch * T)));
      const float* gn = params + ls.g_norm;
      const float eps = c.rms_norm_eps;
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r) ref::gated_norm_row(A.g.row(r), A.s.row(r), gn, H, eps, o.row(r));
      }, row_grain(H));
      bl_forward(linear(linear_index(l, 3), params, nullptr), o, d);
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r)
          for (index_t k = 0; k < H; ++k) A.r(r, k) = A.h(r, k) + d(r, k);
      }, row_grain(H));
      rmsnorm(A.r, params + ls.mlp_norm, a);
      bl_forward(linear(linear_index(l, 4), params, nullptr), a, A.u);
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r) ref::glu_row(A.u.row(r), I, v.row(r));
      }, row_grain(I));
      bl_forward(linear(linear_index(l, 5), params, nullptr), v, d);
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r)
          for (index_t k = 0; k < H; ++k) h_out(r, k) = A.r(r, k) + d(r, k);
      }, row_grain(H));
    }
  }

  const float* lower_bound(index_t l) const {
    return config().use_lower_bound && l > 0 ? lb_.data() + l * config().hidden_size : nullptr;
  }

  /// Final norm, lm_head, cross-entropy in chunks of rows (logits are never held for the whole
  /// batch); with grads, the lm_head and final-norm backward of each chunk, dh_ <- dL/dh_L.
  void head(const float* params, float* grads, const std::int32_t* targets, index_t count, LossSum& loss,
            float* logits_out) {
    const ModelConfig& c = config();
    const index_t H = c.hidden_size, V = c.vocab_size, R = R_;
    const index_t chunk = std::min<index_t>(R, 256);
    const Linear lm = linear(linears_.size() - 1, params, grads);
    const float inv = count > 0 ? 1.0f / float(count) : 0.0f;
    MatrixView<float> hL = final_hidden();
    double nll = 0.0;
    for (index_t r0 = 0; r0 < R; r0 += chunk) {
      const index_t n = std::min(chunk, R - r0);
      auto x = hL.rows_slice(r0, n);
      auto a = t_a_.rows_slice(r0, n);
      MatrixView<float> lg = logits_out ? MatrixView<float>(logits_out + r0 * V, n, V) : MatrixView<float>(logit_.data(), n, V);
      rmsnorm(x, params + layout_.final_norm, a);
      bl_forward(lm, a, lg);
      if (targets == nullptr) continue;
      std::vector<double> row_nll(std::size_t(n), 0.0);
      pool_->parallel_for(n, [&](index_t q0, index_t q1, int) {
        for (index_t q = q0; q < q1; ++q) {
          const std::int32_t tg = targets[r0 + q];
          float* z = lg.row(q);
          if (tg < 0) {
            if (grads) std::fill(z, z + V, 0.0f);
            continue;
          }
          float mx = z[0];
          for (index_t k = 1; k < V; ++k) mx = std::max(mx, z[k]);
          const float zt = z[tg];
          double sum = 0.0;
          for (index_t k = 0; k < V; ++k) {
            const float e = std::exp(z[k] - mx);
            if (grads) z[k] = e;
            sum += double(e);
          }
          row_nll[std::size_t(q)] = std::log(sum) + double(mx) - double(zt);
          if (grads) {  // d(mean CE)/dlogits = (softmax - onehot) / count
            const float scale = float(1.0 / sum) * inv;
            for (index_t k = 0; k < V; ++k) z[k] *= scale;
            z[tg] -= inv;
          }
        }
      }, row_grain(V));
      for (double v : row_nll) nll += v;
      if (grads) {
        auto da = dx_.rows_slice(r0, n);
        auto dh = dh_.rows_slice(r0, n);
        std::fill(da.data, da.data + n * H, 0.0f);
        std::fill(dh.data, dh.data + n * H, 0.0f);
        bl_backward(lm, a, lg, da);
        rmsnorm_backward(x, params + layout_.final_norm, da, dh, grads + layout_.final_norm);
      }
    }
    loss.nll = nll;
  }

  void backward_layers(const float* params, float* grads, std::span<const std::int32_t> ids, index_t batch, index_t T) {
    const ModelConfig& c = config();
    const index_t H = c.hidden_size, I = c.intermediate_size, R = batch * T, L = c.num_layers;
    std::vector<double> dlb(std::size_t(L * H), 0.0);  // gradient w.r.t. the transformed lower bounds
    auto zero = [](MatrixView<float> m) { std::fill(m.data, m.data + m.rows * m.stride, 0.0f); };
    for (index_t l = L - 1; l >= 0; --l) {
      const LayerSlot& ls = layout_.layers[std::size_t(l)];
      LayerActs A = acts(l);
      MatrixView<float> dh = dh_, dx = dx_, v = t_v_, dv = dv_, du = du_, a = t_a_, o = t_o_;
      // ---- GLU: h_out = r + down(glu(gate(mlp_norm(r))))
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r) ref::glu_row(A.u.row(r), I, v.row(r));
      }, row_grain(I));
      zero(dv);
      bl_backward(linear(linear_index(l, 5), params, grads), v, dh, dv);
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r) {
          const float* u = A.u.row(r);
          float* g = du.row(r);
          for (index_t k = 0; k < I; ++k) {
            const float z = u[k], sg = math::sigmoid(z);
            g[k] = dv(r, k) * u[I + k] * (sg * (1.0f + z * (1.0f - sg)));
            g[I + k] = dv(r, k) * (z * sg);
          }
        }
      }, row_grain(I));
      rmsnorm(A.r, params + ls.mlp_norm, a);
      zero(dx);
      bl_backward(linear(linear_index(l, 4), params, grads), a, du, dx);
      rmsnorm_backward(A.r, params + ls.mlp_norm, dx, dh, grads + ls.mlp_norm);  // dh <- dL/dr
      // ---- MLGRU: r = h + o_proj(g_norm(g, s))
      const float* gn = params + ls.g_norm;
      const float eps = c.rms_norm_eps;
      pool_->parallel_for(R, [&](index_t r0, index_t r1, int) {
        for (index_t r = r0; r < r1; ++r) ref::gated_norm_row(A.g.row(r), A.s.row(r), gn, H, eps, o.row(r));
      }, row_grain(H));
      zero(dx);
      bl_backward(linear(linear_index(l, 3), params, grads), o, dh, dx);  // dx = dL/d(o_proj input)
      gated_norm_backward(A.g, A.s, gn, dx, dg_, ds_, grads + ls.g_norm);
      recurrence_backward(A, l, batch, T, dlb);  // ds_ <- dL/di, df_ <- dL/df
      rmsnorm(A.h, params + ls.attn_norm, a);
      zero(dx);
      bl_backward(linear(linear_index(l, 0), params, grads), a, ds_, dx);
      bl_backward(linear(linear_index(l, 1), params, grads), a, df_, dx);
      bl_backward(linear(linear_index(l, 2), params, grads), a, dg_, dx);
      rmsnorm_backward(A.h, params + ls.attn_norm, dx, dh, grads + ls.attn_norm);  // dh <- dL/dh_in
    }
    // embeddings: scatter-add, parallel over columns so each element has one writer
    float* dE = grads + layout_.embeddings;
    pool_->parallel_for(H, [&](index_t k0, index_t k1, int) {
      for (index_t r = 0; r < R; ++r) {
        float* row = dE + index_t(ids[std::size_t(r)]) * H;
        const float* g = dh_.row(r);
        for (index_t k = k0; k < k1; ++k) row[k] += g[k];
      }
    }, std::max<index_t>(1, opt_.grain / R));
    if (c.use_lower_bound) lower_bound_backward(dlb, grads + layout_.lower_bounds);
  }

  /// o = RMSNorm(g) * w * silu(s): dg (written), ds (written), dw (accumulated).
  void gated_norm_backward(ConstMatrixView<float> g, ConstMatrixView<float> s, const float* w, MatrixView<float> dout,
                           MatrixView<float> dg, MatrixView<float> ds, float* dw) {
    const index_t R = g.rows, H = g.cols;
    const float eps = config().rms_norm_eps;
    const int threads = pool_->size();
    std::fill(partial_.data(), partial_.data() + index_t(threads) * H, 0.0f);
    pool_->parallel_for(R, [&](index_t r0, index_t r1, int t) {
      float* part = partial_.data() + index_t(t) * H;
      for (index_t r = r0; r < r1; ++r) {
        const float* gr = g.row(r);
        const float* sr = s.row(r);
        const float* d = dout.row(r);
        float* dgr = dg.row(r);
        float* dsr = ds.row(r);
        const float ri = ref::rms_inv(gr, H, eps);
        double c1 = 0.0;
        for (index_t k = 0; k < H; ++k) {
          const float n = gr[k] * ri;
          const float z = sr[k], sg = math::sigmoid(z), si = z * sg;
          part[k] += d[k] * n * si;
          dsr[k] = d[k] * n * w[k] * (sg * (1.0f + z * (1.0f - sg)));
          dgr[k] = d[k] * w[k] * si;  // gradient w.r.t. the normalised g, finished below
          c1 += double(n) * double(dgr[k]);
        }
        const float cc = float(c1 / double(H));
        for (index_t k = 0; k < H; ++k) dgr[k] = (dgr[k] - gr[k] * ri * cc) * ri;
      }
    }, row_grain(H));
    for (int t = 0; t < threads; ++t) {
      const float* part = partial_.data() + index_t(t) * H;
      for (index_t k = 0; k < H; ++k) dw[k] += part[k];
    }
  }

  /// Backward through time of s_t = f_t s_{t-1} + silu(i_t)(1 - f_t), f = lb + (1 - lb) sigmoid(f_raw).
  /// Reads dL/ds_t (direct) from ds_, writes dL/di into ds_ and dL/df_raw into df_; adds dL/dlb.
  void recurrence_backward(const LayerActs& A, index_t l, index_t batch, index_t T, std::vector<double>& dlb) {
    const index_t H = config().hidden_size;
    const float* lb = lower_bound(l);
    pool_->parallel_for(H, [&](index_t d0, index_t d1, int) {
      for (index_t d = d0; d < d1; ++d) {
        const float lbd = lb ? lb[d] : 0.0f;
        double dlbd = 0.0;
        for (index_t b = 0; b < batch; ++b) {
          float carry = 0.0f;  // dL/ds_t flowing back from step t + 1
          for (index_t t = T - 1; t >= 0; --t) {
            const index_t r = b * T + t;
            const float G = ds_(r, d) + carry;
            const float sig = math::sigmoid(A.f(r, d));
            const float fv = lb ? ::fmaf(1.0f - lbd, sig, lbd) : sig;
            const float iv = A.i(r, d), sgi = math::sigmoid(iv), si = iv * sgi;
            const float sprev = t > 0 ? A.s(r - 1, d) : 0.0f;
            const float dfv = G * sprev - G * si;
            ds_(r, d) = G * (1.0f - fv) * (sgi * (1.0f + iv * (1.0f - sgi)));
            float dsig = dfv;
            if (lb) {
              dlbd += double(dfv) * double(1.0f - sig);
              dsig = dfv * (1.0f - lbd);
            }
            df_(r, d) = dsig * sig * (1.0f - sig);
            carry = G * fv;
          }
        }
        if (lb) dlb[std::size_t(l * H + d)] = dlbd;
      }
    }, std::max<index_t>(1, opt_.grain / (batch * T)));
  }

  /// From dL/dlb[l] (l >= 1) to the raw lower_bounds through cumsum and the softmax over layers.
  void lower_bound_backward(const std::vector<double>& dlb, float* dz) const {
    const index_t H = config().hidden_size, L = config().num_layers;
    std::vector<double> dp(static_cast<std::size_t>(L));
    for (index_t h = 0; h < H; ++h) {
      // lb[l] = sum_{1 <= k <= l} p_k, so dp_k = sum_{l >= k} dlb[l] for k >= 1, dp_0 = 0
      double acc = 0.0;
      for (index_t k = L - 1; k >= 1; --k) {
        acc += dlb[std::size_t(k * H + h)];
        dp[std::size_t(k)] = acc;
      }
      dp[0] = 0.0;
      double dot = 0.0;
      for (index_t k = 0; k < L; ++k) dot += lb_p_[std::size_t(k * H + h)] * dp[std::size_t(k)];
      for (index_t k = 0; k < L; ++k) {
        const double p = lb_p_[std::size_t(k * H + h)];
        dz[k * H + h] += float(p * (dp[std::size_t(k)] - dot));
      }
    }
  }

  ParamLayout layout_;
  ThreadPool* pool_;
  NetworkOptions opt_;
  std::vector<LinearSlot> linears_;
  std::vector<index_t> tern_offset_;
  Buffer<float, HostSpace> tern_, lb_, partial_, act_, scratch_, state_, logit_;
  std::vector<float> w_scale_;
  std::vector<double> lb_p_;
  index_t max_k_ = 0, rows_cap_ = 0, R_ = 0;
  MatrixView<float> xq_, dy_, t_a_, t_o_, t_d_, dh_, dx_, dg_, ds_, df_, t_v_, dv_, du_;
  float* row_scale_ = nullptr;
  float* row_rinv_ = nullptr;
};

}  // namespace train
MMFREE_NAMESPACE_END
