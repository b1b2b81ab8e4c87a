// SPDX-License-Identifier: MIT
// Converts packed weights from one packing to another (decode every ternary code, pack again).
// Exact: codes, scales, norms and embeddings are unchanged, so the logits are too.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
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
    HostWeights out;
    out.index = WeightIndex::plan<To>(si.config, si.embedding_dtype);
    WeightIndex& di = out.index;
    auto* arena = static_cast<std::uint8_t*>(HostSpace::allocate(std::size_t(di.arena_bytes)));
    out.arena.owner = std::shared_ptr<const void>(arena, [](const void* p) { HostSpace::deallocate(const_cast<void*>(p)); });
    out.arena.base = arena;
    out.arena.bytes = di.arena_bytes;
    HostSpace::fill_zero(arena, std::size_t(di.arena_bytes));
    const std::uint8_t* sb = src.arena.base;
    auto copy = [&](const TensorSlot& d, const TensorSlot& s) {
      check(d.bytes == s.bytes, "repack: tensor sizes differ between packings");
      std::memcpy(arena + d.offset, sb + s.offset, std::size_t(s.bytes));
    };
    std::vector<std::int8_t> row;
    auto tern = [&](TernarySlot& d, const TernarySlot& s) {
      check(d.rows == s.rows && d.cols == s.cols, "repack: matrix shapes differ between packings");
      d.w_scale = s.w_scale;
      copy(d.norm, s.norm);
      row.resize(std::size_t(s.cols));
      const index_t sr = packed_row_bytes<From>(s.cols), dr = packed_row_bytes<To>(s.cols);
      for (index_t n = 0; n < s.rows; ++n) {
        const std::uint8_t* in = sb + s.codes.offset + n * sr;
        for (index_t k = 0; k < s.cols; ++k) row[std::size_t(k)] = std::int8_t(From::decode(in, k));
        To::pack_row(row.data(), s.cols, arena + d.codes.offset + n * dr);
      }
    };
    copy(di.embeddings, si.embeddings);
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

MMFREE_NAMESPACE_END
