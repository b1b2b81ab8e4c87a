// SPDX-License-Identifier: MIT
// Per-sequence recurrent state: one f32 vector of H values per layer per sequence. Its size never
// grows with the context.
#pragma once

#include <span>
#include <string>

#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/model_config.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief The MLGRU states of `batch` sequences: [layers, batch, H] f32 in backend memory.
template <PolicyBundle Pol>
class State {
 public:
  using memory_space = typename Pol::backend::memory_space;

  State() = default;
  /// Zero state (the start of a sequence) for `batch` sequences.
  State(const ModelConfig& cfg, index_t batch)
      : layers_(cfg.num_layers), batch_(batch), hidden_(cfg.hidden_size), buf_(cfg.num_layers * batch * cfg.hidden_size) {
    check(batch > 0, "State: batch must be positive");
  }

  index_t batch() const { return batch_; }
  index_t layers() const { return layers_; }
  index_t hidden() const { return hidden_; }
  /// Floats per sequence (layers * H): what save_sequence() writes.
  index_t floats_per_sequence() const { return layers_ * hidden_; }

  /// [batch, H] state of layer l.
  MatrixView<float> layer(index_t l) const { return MatrixView<float>(buf_.data() + l * batch_ * hidden_, batch_, hidden_); }

  /// Back to the start of every sequence.
  void reset() { memory_space::fill_zero(buf_.data(), buf_.bytes()); }
  /// Back to the start of sequence b only.
  void reset_sequence(index_t b) {
    check_seq(b);
    for (index_t l = 0; l < layers_; ++l)
      memory_space::fill_zero(layer(l).row(b), std::size_t(hidden_) * sizeof(float));
  }
  /// Copies sequence b's state ([layers, H] f32) to host memory.
  void save_sequence(index_t b, std::span<float> out) const {
    check_seq(b);
    if (index_t(out.size()) != floats_per_sequence())  // message built only on failure: no allocation
      throw Error("State::save_sequence: output holds " + std::to_string(out.size()) + " floats, expected " +
                  std::to_string(floats_per_sequence()));
    for (index_t l = 0; l < layers_; ++l)
      memory_space::copy_to_host(out.data() + l * hidden_, layer(l).row(b), std::size_t(hidden_) * sizeof(float));
  }
  /// Restores sequence b's state from what save_sequence() wrote.
  void load_sequence(index_t b, std::span<const float> in) {
    check_seq(b);
    if (index_t(in.size()) != floats_per_sequence())
      throw Error("State::load_sequence: input holds " + std::to_string(in.size()) + " floats, expected " +
                  std::to_string(floats_per_sequence()));
    for (index_t l = 0; l < layers_; ++l)
      memory_space::copy_from_host(layer(l).row(b), in.data() + l * hidden_, std::size_t(hidden_) * sizeof(float));
  }

 private:
  void check_seq(index_t b) const {
    if (b < 0 || b >= batch_)
      throw Error("State: sequence " + std::to_string(b) + " out of range [0, " + std::to_string(batch_) + ")");
  }
  index_t layers_ = 0, batch_ = 0, hidden_ = 0;
  Buffer<float, memory_space> buf_;
};

MMFREE_NAMESPACE_END
