// SPDX-License-Identifier: MIT
// Random models of any shape, built directly in packed form (no checkpoint, no latent weights):
// for benchmarks and tests of the published shapes without downloading anything.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/model_config.hpp"
#include "../core/numeric.hpp"
#include "weights.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief The shapes of the published checkpoints: "370m", "1.3b", "2.7b" (model-spec.md).
inline ModelConfig preset_config(std::string_view name) {
  ModelConfig c;
  c.vocab_size = 32000;
  if (name == "370m") {
    c.hidden_size = 1024, c.num_layers = 24;
  } else if (name == "1.3b") {
    c.hidden_size = 2048, c.num_layers = 24;
  } else if (name == "2.7b") {
    c.hidden_size = 2560, c.num_layers = 32;
  } else {
    throw Error("unknown model shape '" + std::string(name) + "' (370m, 1.3b, 2.7b)");
  }
  c.intermediate_size = ModelConfig::default_intermediate(c.hidden_size, 4.0);
  return c;
}

/// \brief A model of shape `cfg` with uniformly random ternary codes, plausible scales and norm
/// weights near 1, packed with P. Deterministic for a given seed on every platform.
template <WeightPacking P>
HostWeights random_weights(const ModelConfig& cfg, std::uint64_t seed = 1, DType embedding_dtype = DType::BF16) {
  cfg.validate();
  check(embedding_dtype == DType::F32 || embedding_dtype == DType::F16 || embedding_dtype == DType::BF16,
        "random_weights: embeddings must be F32, F16 or BF16");
  std::uint64_t s = seed;
  auto next = [&s] {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  auto uniform = [&] { return float(double(next() >> 11) * (1.0 / 9007199254740992.0)); };  // [0, 1)

  std::uint8_t* arena = nullptr;
  HostWeights hw = HostWeights::allocate(WeightIndex::plan<P>(cfg, embedding_dtype), &arena);
  WeightIndex& idx = hw.index;

  auto fill_f32 = [&](const TensorSlot& slot, float lo, float hi) {
    float* p = reinterpret_cast<float*>(arena + slot.offset);
    for (index_t i = 0; i < slot.bytes / 4; ++i) p[i] = lo + (hi - lo) * uniform();
  };
  std::vector<std::int8_t> codes;
  auto fill_ternary = [&](TernarySlot& t) {
    const index_t K = t.cols;  // a local bounded by validate(): keeps GCC's size analysis quiet
    if (K <= 0 || K > (index_t(1) << 40)) return;
    codes.resize(std::size_t(K));
    const index_t rb = packed_row_bytes<P>(K);
    for (index_t n = 0; n < t.rows; ++n) {
      std::uint64_t bits = 0;
      int left = 0;
      for (index_t k = 0; k < K; ++k) {
        if (left == 0) bits = next(), left = 21;  // 3 bits per code, 21 codes per draw
        codes[std::size_t(k)] = std::int8_t(int((bits & 7u) % 3u) - 1);
        bits >>= 3;
        --left;
      }
      P::pack_row(codes.data(), K, arena + t.codes.offset + n * rb);
    }
    t.w_scale = 1.0f / (0.01f + 0.02f * uniform());  // latent mean |W| of a trained model
    fill_f32(t.norm, 0.5f, 1.5f);
  };

  const index_t n_emb = cfg.vocab_size * cfg.hidden_size;
  for (index_t i = 0; i < n_emb; ++i) {
    const float v = 2.0f * uniform() - 1.0f;
    std::uint8_t* dst = arena + idx.embeddings.offset + i * dtype_size(embedding_dtype);
    if (embedding_dtype == DType::F32) {
      std::memcpy(dst, &v, 4);
    } else {
      const std::uint16_t h = embedding_dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(dst, &h, 2);
    }
  }
  if (cfg.use_lower_bound) fill_f32(idx.lower_bounds, 0.0f, 0.9f);
  for (auto& l : idx.layers) {
    fill_f32(l.attn_norm, 0.5f, 1.5f);
    fill_f32(l.g_norm, 0.5f, 1.5f);
    fill_f32(l.mlp_norm, 0.5f, 1.5f);
    for (TernarySlot* t : {&l.i_proj, &l.f_proj, &l.g_proj, &l.o_proj, &l.gate_proj, &l.down_proj}) fill_ternary(*t);
  }
  fill_f32(idx.final_norm, 0.5f, 1.5f);
  fill_ternary(idx.lm_head);
  return hw;
}

MMFREE_NAMESPACE_END
