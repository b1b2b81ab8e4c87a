// SPDX-License-Identifier: MIT
// The training loop's step: a batch of random windows, forward + backward, gradient clipping,
// the scheduled learning rate and an AdamW update; saved and resumed through checkpoint.hpp.
#pragma once

#include <filesystem>
#include <span>
#include <vector>

#include "checkpoint.hpp"
#include "data.hpp"
#include "network.hpp"
#include "optimizer.hpp"
#include "params.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// Everything that decides a training run besides the model and the data.
struct TrainOptions {
  index_t batch = 16;       ///< sequences per step
  index_t seq_len = 128;    ///< tokens per sequence
  Schedule schedule;        ///< learning rate (schedule.total_steps = length of the run)
  AdamWOptions adam;
  double clip = 1.0;        ///< global gradient-norm limit (<= 0: none)
  float late_weight_decay = -1.0f;  ///< weight decay from schedule.halve_at on (< 0: unchanged)
  std::uint64_t seed = 1;   ///< data order (parameters are initialised separately)
};

/// What one step did.
struct StepResult {
  double loss = 0.0;       ///< mean cross-entropy of the batch (before the update)
  double grad_norm = 0.0;  ///< before clipping
  float lr = 0.0f;
  index_t tokens = 0;      ///< tokens in the batch
};

/// \brief Runs optimizer steps of `net` on `params` with windows drawn from `stream`.
///
/// Deterministic: the same options, data, initial parameters and thread count give the same
/// parameters bit for bit, and a run saved and resumed equals a run that never stopped.
class Trainer {
 public:
  Trainer(Network& net, ParamBuffer& params, std::span<const std::int32_t> stream, const TrainOptions& opt)
      : net_(&net),
        params_(&params),
        opt_(opt),
        grads_(net.layout()),
        adam_(net.layout(), opt.adam),
        batcher_(stream, opt.seq_len, opt.seed) {
    check(opt.batch > 0, "Trainer: batch must be positive");
    opt.schedule.validate();
    check(params.size() == net.layout().total, "Trainer: parameters do not match the network");
  }

  /// One optimizer step.
  StepResult step() {
    StepResult r;
    batcher_.next(opt_.batch, ids_, targets_);
    const LossSum l = net_->forward_backward(params_->data(), ids_, targets_, opt_.batch, grads_.data());
    r.loss = l.mean();
    r.tokens = index_t(ids_.size());
    check(std::isfinite(r.loss), "training diverged: the loss is not finite at step " + std::to_string(state_.step));
    r.grad_norm = clip_grad_norm(net_->pool(), net_->layout(), grads_.data(), opt_.clip);
    r.lr = opt_.schedule.at(state_.step);
    const Schedule& s = opt_.schedule;
    if (opt_.late_weight_decay >= 0.0f && s.halve_at > 0.0f &&
        double(state_.step) >= double(s.halve_at) * double(s.total_steps))
      adam_.set_weight_decay(opt_.late_weight_decay);
    else
      adam_.set_weight_decay(opt_.adam.weight_decay);
    adam_.step(net_->pool(), params_->data(), grads_.data(), r.lr);
    ++state_.step;
    state_.tokens += double(r.tokens);
    return r;
  }

  std::int64_t steps_done() const { return state_.step; }
  double tokens_seen() const { return state_.tokens; }
  const TrainOptions& options() const { return opt_; }
  /// Gradient of the last step (after clipping).
  const ParamBuffer& gradients() const { return grads_; }

  /// Saves parameters (HF layout) and optimizer state to `dir`; `extra` is stored with them.
  void save(const std::filesystem::path& dir, const nlohmann::json& extra = nlohmann::json::object()) {
    TrainState s = state_;
    s.data_rng = batcher_.rng_state();
    s.extra = extra;
    save_checkpoint(dir, net_->layout(), params_->data(), &adam_, s);
  }

  /// Continues from a checkpoint written by save(): parameters, optimizer moments, step and data
  /// position. Returns the `extra` JSON stored with it.
  nlohmann::json resume(const std::filesystem::path& dir) {
    const auto ck = io::Checkpoint::open(dir);
    const ModelConfig& c = ck.config();
    const ModelConfig& m = net_->config();
    if (c.vocab_size != m.vocab_size || c.hidden_size != m.hidden_size || c.num_layers != m.num_layers ||
        c.intermediate_size != m.intermediate_size || c.use_lower_bound != m.use_lower_bound)
      throw Error("checkpoint '" + dir.string() + "' has another model shape than this run");
    load_parameters(net_->layout(), ck, *params_);
    state_ = load_optimizer_state(dir, net_->layout(), adam_);
    batcher_.set_rng_state(state_.data_rng);
    return state_.extra;
  }

 private:
  Network* net_;
  ParamBuffer* params_;
  TrainOptions opt_;
  ParamBuffer grads_;
  AdamW adam_;
  Batcher batcher_;
  TrainState state_;
  std::vector<std::int32_t> ids_, targets_;
};

}  // namespace train
MMFREE_NAMESPACE_END
