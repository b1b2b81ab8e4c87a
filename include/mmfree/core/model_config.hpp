// SPDX-License-Identifier: MIT
// Model dimensions and options, independent of any file format.
#pragma once

#include <cstdint>
#include <string>

#include "error.hpp"
#include "types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Shape and options of an MMfreeLM (HGRN-bit) model.
///
/// Mirrors the fields of the Hugging Face `config.json` that change the computation.
struct ModelConfig {
  index_t vocab_size = 0;         ///< V
  index_t hidden_size = 0;        ///< H
  index_t num_layers = 0;         ///< L
  index_t intermediate_size = 0;  ///< I (the GLU's width; gate_proj is [2I, H])
  index_t num_heads = 1;          ///< a reshape only: never changes results
  float rms_norm_eps = 1e-6f;     ///< eps of attn_norm, mlp_norm, g_norm and the final norm
  bool use_lower_bound = true;    ///< forget-gate lower bounds (layers > 0)
  bool tie_word_embeddings = false;
  std::int32_t bos_token_id = 1;
  std::int32_t eos_token_id = 2;

  /// The `intermediate_size: null` rule: 256 * ceil(int(H * hidden_ratio * 2/3) / 256).
  static index_t default_intermediate(index_t hidden, double hidden_ratio) {
    const auto base = index_t(double(hidden) * hidden_ratio * 2.0 / 3.0);
    return 256 * ((base + 255) / 256);
  }

  /// Throws mmfree::Error naming the first field that is out of range.
  void validate(const std::string& where = "model config") const {
    auto pos = [&](index_t v, const char* field) {
      check(v > 0, where + ": " + field + " must be positive, got " + std::to_string(v));
    };
    pos(vocab_size, "vocab_size");
    pos(hidden_size, "hidden_size");
    pos(num_layers, "num_hidden_layers");
    pos(intermediate_size, "intermediate_size");
    pos(num_heads, "num_heads");
    check(hidden_size % num_heads == 0, where + ": hidden_size " + std::to_string(hidden_size) +
                                            " is not divisible by num_heads " + std::to_string(num_heads));
    // Limits that keep int32 accumulation exact and sizes far from overflow.
    constexpr index_t max_dim = index_t(1) << 20;
    check(hidden_size <= max_dim && intermediate_size <= max_dim && vocab_size <= (index_t(1) << 24) &&
              num_layers <= 4096,
          where + ": dimensions beyond what mmfree supports (H, I <= 2^20, V <= 2^24, L <= 4096)");
    check(rms_norm_eps > 0.0f && rms_norm_eps < 1.0f, where + ": rms_norm_eps must be in (0, 1)");
  }

  /// Ternary weights in all BitLinears of the model (lm_head included).
  index_t ternary_params() const {
    const index_t H = hidden_size, I = intermediate_size;
    return num_layers * (4 * H * H + 2 * I * H + H * I) + vocab_size * H;
  }
  /// Every parameter the checkpoint stores (latent weights, norms, embeddings, lower bounds).
  index_t total_params() const {
    const index_t H = hidden_size, I = intermediate_size;
    const index_t per_layer = 4 * H * H + 2 * I * H + H * I  // projections
                              + 4 * H + H + I               // i/f/g/o norms + gate_proj.norm, down_proj.norm
                              + 3 * H;                      // attn_norm, g_norm, mlp_norm
    return num_layers * per_layer + vocab_size * H /*embeddings*/ + (use_lower_bound ? num_layers * H : 0) + H +
           vocab_size * H + H;  // final norm, lm_head and its norm
  }
};

MMFREE_NAMESPACE_END
