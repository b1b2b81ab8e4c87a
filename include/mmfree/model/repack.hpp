// SPDX-License-Identifier: MIT
// Converts packed weights from one packing to another (decode every ternary code, pack again).
// Exact: codes, scales, norms and embeddings are unchanged, so the logits are too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/math.hpp"
#include "../core/numeric.hpp"
#include "../packing/registry.hpp"
#include "weights.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief `src` (host weights of any shipped packing) packed with `To`. Returns `src` itself
/// (no copy) when it is already packed with `To`.
template <WeightPacking To>
HostWeights repack(HostWeights src) {
  if (src.index.packing == To::name()) return src;
  return packing::with_packing(src.index.packing, [&]<class From>(From) {
    const WeightIndex& si = src.index;
    std::uint8_t* arena = nullptr;
    HostWeights out = HostWeights::allocate(WeightIndex::plan<To>(si.config, si.embedding_dtype), &arena);
    WeightIndex& di = out.index;
    const std::uint8_t* sb = src.arena.base;
    auto copy = [&](const TensorSlot& d, const TensorSlot& s) {
      check(d.bytes == s.bytes, "repack: tensor sizes differ between packings");
      std::memcpy(arena + d.offset, sb + s.offset, std::size_t(s.bytes));
    };
    std::vector<std::int8_t> row;
    auto tern = [&](TernarySlot& d, const TernarySlot& s) {
      check(d.rows == s.rows && d.cols == s.cols && s.cols > 0, "repack: matrix shapes differ between packings");
      d.w_scale = s.w_scale;
      copy(d.norm, s.norm);
      const index_t K = s.cols, N = s.rows;  // locals: the optimiser then knows 0 < K <= 2^40
      if (K <= 0 || K > (index_t(1) << 40)) return;
      row.assign(static_cast<std::size_t>(K), 0);
      const index_t sr = packed_row_bytes<From>(K), dr = packed_row_bytes<To>(K);
      for (index_t n = 0; n < N; ++n) {
        const std::uint8_t* in = sb + s.codes.offset + n * sr;
        for (index_t k = 0; k < K; ++k) row[std::size_t(k)] = std::int8_t(From::decode(in, k));
        To::pack_row(row.data(), K, arena + d.codes.offset + n * dr);
      }
    };
    copy(di.embeddings, si.embeddings);
    if (si.embedding_dtype == DType::I8) copy(di.embedding_scales, si.embedding_scales);
    if (si.config.use_lower_bound) copy(di.lower_bounds, si.lower_bounds);
    for (std::size_t l = 0; l < si.layers.size(); ++l) {
      LayerSlots& d = di.layers[l];
      const LayerSlots& s = si.layers[l];
      copy(d.attn_norm, s.attn_norm);
      copy(d.g_norm, s.g_norm);
      copy(d.mlp_norm, s.mlp_norm);
      tern(d.i_proj, s.i_proj);
      tern(d.f_proj, s.f_proj);
      tern(d.g_proj, s.g_proj);
      tern(d.o_proj, s.o_proj);
      tern(d.gate_proj, s.gate_proj);
      tern(d.down_proj, s.down_proj);
    }
    copy(di.final_norm, si.final_norm);
    tern(di.lm_head, si.lm_head);
    return out;
  });
}

/// \brief `src` with its embedding table stored as `to`: F32, F16, BF16, or I8 with one f32
/// scale per row (max|row| / 127, codes rounded half to even). Everything else is copied as is.
/// Narrowing changes the embeddings (and so the logits) slightly; I8 halves a bf16 table.
inline HostWeights convert_embeddings(HostWeights src, DType to) {
  check(to == DType::F32 || to == DType::F16 || to == DType::BF16 || to == DType::I8,
        "convert_embeddings: the embedding type must be F32, F16, BF16 or I8");
  if (src.index.embedding_dtype == to) return src;
  return packing::with_packing(src.index.packing, [&]<class P>(P) {
    const WeightIndex& si = src.index;
    std::uint8_t* arena = nullptr;
    HostWeights out = HostWeights::allocate(WeightIndex::plan<P>(si.config, to), &arena);
    WeightIndex& di = out.index;
    const std::uint8_t* sb = src.arena.base;
    // every slot but the embeddings keeps its bytes; only offsets move
    auto copy = [&](const TensorSlot& d, const TensorSlot& s) { std::memcpy(arena + d.offset, sb + s.offset, std::size_t(s.bytes)); };
    auto tern = [&](TernarySlot& d, const TernarySlot& s) {
      copy(d.codes, s.codes);
      copy(d.norm, s.norm);
      d.w_scale = s.w_scale;
    };
    if (si.config.use_lower_bound) copy(di.lower_bounds, si.lower_bounds);
    for (std::size_t l = 0; l < si.layers.size(); ++l) {
      LayerSlots& d = di.layers[l];
      const LayerSlots& s = si.layers[l];
      copy(d.attn_norm, s.attn_norm), copy(d.g_norm, s.g_norm), copy(d.mlp_norm, s.mlp_norm);
      tern(d.i_proj, s.i_proj), tern(d.f_proj, s.f_proj), tern(d.g_proj, s.g_proj), tern(d.o_proj, s.o_proj);
      tern(d.gate_proj, s.gate_proj), tern(d.down_proj, s.down_proj);
    }
    copy(di.final_norm, si.final_norm);
    tern(di.lm_head, si.lm_head);
    const index_t V = si.config.vocab_size, H = si.config.hidden_size;
    const float* in_scales = si.embedding_dtype == DType::I8 ? reinterpret_cast<const float*>(sb + si.embedding_scales.offset) : nullptr;
    std::vector<float> row(static_cast<std::size_t>(H));
    for (index_t v = 0; v < V; ++v) {
      const std::size_t first = std::size_t(v) * std::size_t(H);
      const float s_in = in_scales ? in_scales[v] : 1.0f;
      for (index_t k = 0; k < H; ++k) row[std::size_t(k)] = load_as_f32(sb + si.embeddings.offset, si.embedding_dtype, first + std::size_t(k)) * s_in;
      std::uint8_t* dst = arena + di.embeddings.offset;
      if (to == DType::I8) {
        float mx = 0.0f;
        for (float x : row) mx = std::max(mx, std::fabs(x));
        const float scale = mx / 127.0f;
        reinterpret_cast<float*>(arena + di.embedding_scales.offset)[v] = scale;
        for (index_t k = 0; k < H; ++k) {
          const float q = scale > 0.0f ? math::clampf(math::round_half_even(row[std::size_t(k)] / scale), -127.0f, 127.0f) : 0.0f;
          dst[first + std::size_t(k)] = std::uint8_t(std::int8_t(q));
        }
      } else {
        for (index_t k = 0; k < H; ++k) {
          const float x = row[std::size_t(k)];
          if (to == DType::F32) {
            std::memcpy(dst + 4 * (first + std::size_t(k)), &x, 4);
          } else {
            const std::uint16_t h = to == DType::BF16 ? f32_to_bf16(x) : f32_to_f16(x);
            std::memcpy(dst + 2 * (first + std::size_t(k)), &h, 2);
          }
        }
      }
    }
    return out;
  });
}

MMFREE_NAMESPACE_END
