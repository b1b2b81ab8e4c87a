// SPDX-License-Identifier: MIT
// Model parameters after load: one contiguous arena of bytes (packed ternary codes, norm weights,
// embeddings, lower bounds) plus an index of offsets into it. Layers hold views into the arena, so
// the same index serves host memory, a memory-mapped packed file and a GPU copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/model_config.hpp"
#include "../core/numeric.hpp"
#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN

/// Byte range of one tensor inside the arena.
struct TensorSlot {
  index_t offset = 0;
  index_t bytes = 0;
};

/// Where one BitLinear's packed codes and input-norm weight are, and its scale.
struct TernarySlot {
  TensorSlot codes;         ///< rows * packed_row_bytes<P>(cols) bytes
  TensorSlot norm;          ///< cols f32 values
  index_t rows = 0;         ///< N (outputs)
  index_t cols = 0;         ///< K (inputs)
  float w_scale = 1.0f;     ///< 1 / max(mean|W|, 1e-5): the dequantised weight is t / w_scale
};

/// Slots of one block (model.layers.{l}).
struct LayerSlots {
  TensorSlot attn_norm, g_norm, mlp_norm;
  TernarySlot i_proj, f_proj, g_proj, o_proj, gate_proj, down_proj;
};

/// \brief Offsets of every parameter in the arena, for one packing.
struct WeightIndex {
  ModelConfig config;
  std::string packing;                      ///< P::name() of the codes
  DType embedding_dtype = DType::F32;       ///< F32, F16, BF16 (stored as in the source) or I8
  TensorSlot embeddings;                    ///< [V, H]
  TensorSlot embedding_scales;              ///< [V] f32 row scales when embedding_dtype is I8, else empty
  TensorSlot lower_bounds;                  ///< [L, H] f32, already softmax+cumsum'ed; empty if unused
  std::vector<LayerSlots> layers;
  TensorSlot final_norm;                    ///< [H] f32
  TernarySlot lm_head;                      ///< [V, H]
  index_t arena_bytes = 0;

  /// Lays out a model of `cfg` with packing P and embeddings of type `emb`; scales stay 1.
  template <WeightPacking P>
  static WeightIndex plan(const ModelConfig& cfg, DType emb) {
    WeightIndex w;
    w.config = cfg;
    w.packing = std::string(P::name());
    w.embedding_dtype = emb;
    index_t size = 0;
    auto reserve = [&](index_t bytes) {
      TensorSlot s{(size + 63) / 64 * 64, bytes};
      size = s.offset + bytes;
      return s;
    };
    auto ternary = [&](index_t rows, index_t cols) {
      TernarySlot t;
      t.rows = rows;
      t.cols = cols;
      t.codes = reserve(rows * packed_row_bytes<P>(cols));
      t.norm = reserve(cols * 4);
      return t;
    };
    const index_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
    w.embeddings = reserve(V * H * dtype_size(emb));
    if (emb == DType::I8) w.embedding_scales = reserve(V * 4);
    if (cfg.use_lower_bound) w.lower_bounds = reserve(cfg.num_layers * H * 4);
    w.layers.resize(std::size_t(cfg.num_layers));
    for (auto& l : w.layers) {
      l.attn_norm = reserve(H * 4);
      l.i_proj = ternary(H, H);
      l.f_proj = ternary(H, H);
      l.g_proj = ternary(H, H);
      l.g_norm = reserve(H * 4);
      l.o_proj = ternary(H, H);
      l.mlp_norm = reserve(H * 4);
      l.gate_proj = ternary(2 * I, H);
      l.down_proj = ternary(H, I);
    }
    w.final_norm = reserve(H * 4);
    w.lm_head = ternary(V, H);
    w.arena_bytes = (size + 63) / 64 * 64;
    return w;
  }
};

/// \brief View of one BitLinear's parameters (pointers into backend memory).
template <WeightPacking P>
struct TernaryWeights {
  const std::uint8_t* codes = nullptr;  ///< rows x row_bytes packed codes
  const float* norm = nullptr;          ///< [cols] weight of the input RMSNorm
  index_t rows = 0;                     ///< N
  index_t cols = 0;                     ///< K
  index_t row_bytes = 0;                ///< packed_row_bytes<P>(cols)
  float w_scale = 1.0f;                 ///< 1 / beta

  MMFREE_HOST_DEVICE const std::uint8_t* row(index_t n) const { return codes + n * row_bytes; }
};

/// View of the token embedding table (any of F32 / F16 / BF16, or I8 with a scale per row).
struct EmbeddingTable {
  const void* data = nullptr;
  DType dtype = DType::F32;
  index_t rows = 0;  ///< V
  index_t cols = 0;  ///< H
  const float* row_scales = nullptr;  ///< [V] for I8: row v is code * row_scales[v]; else nullptr
};

/// Views of one block's parameters.
template <WeightPacking P>
struct LayerWeights {
  const float* attn_norm = nullptr;
  TernaryWeights<P> i_proj, f_proj, g_proj, o_proj;
  const float* g_norm = nullptr;
  const float* lower_bound = nullptr;  ///< [H], nullptr for layer 0 or without lower bounds
  const float* mlp_norm = nullptr;
  TernaryWeights<P> gate_proj, down_proj;
};

/// \brief Views of every parameter, bound to an arena at `base`.
template <WeightPacking P>
struct ModelWeights {
  ModelConfig config;
  EmbeddingTable embeddings;
  std::vector<LayerWeights<P>> layers;
  const float* final_norm = nullptr;
  TernaryWeights<P> lm_head;

  static ModelWeights bind(const WeightIndex& idx, const std::uint8_t* base) {
    auto f32 = [&](const TensorSlot& s) { return reinterpret_cast<const float*>(base + s.offset); };
    auto tern = [&](const TernarySlot& s) {
      TernaryWeights<P> t;
      t.codes = base + s.codes.offset;
      t.norm = f32(s.norm);
      t.rows = s.rows;
      t.cols = s.cols;
      t.row_bytes = packed_row_bytes<P>(s.cols);
      t.w_scale = s.w_scale;
      return t;
    };
    ModelWeights w;
    w.config = idx.config;
    w.embeddings = {base + idx.embeddings.offset, idx.embedding_dtype, idx.config.vocab_size, idx.config.hidden_size,
                    idx.embedding_dtype == DType::I8 ? f32(idx.embedding_scales) : nullptr};
    for (std::size_t l = 0; l < idx.layers.size(); ++l) {
      const LayerSlots& s = idx.layers[l];
      LayerWeights<P> lw;
      lw.attn_norm = f32(s.attn_norm);
      lw.i_proj = tern(s.i_proj);
      lw.f_proj = tern(s.f_proj);
      lw.g_proj = tern(s.g_proj);
      lw.o_proj = tern(s.o_proj);
      lw.g_norm = f32(s.g_norm);
      if (idx.config.use_lower_bound && l > 0)
        lw.lower_bound = f32(idx.lower_bounds) + index_t(l) * idx.config.hidden_size;
      lw.mlp_norm = f32(s.mlp_norm);
      lw.gate_proj = tern(s.gate_proj);
      lw.down_proj = tern(s.down_proj);
      w.layers.push_back(lw);
    }
    w.final_norm = f32(idx.final_norm);
    w.lm_head = tern(idx.lm_head);
    return w;
  }
};

/// \brief Host bytes of an arena and whatever keeps them alive (an allocation or a mapping).
struct WeightArena {
  std::shared_ptr<const void> owner;
  const std::uint8_t* base = nullptr;
  index_t bytes = 0;
};

/// \brief Everything a model needs, in host memory: the index and its arena.
struct HostWeights {
  WeightIndex index;
  WeightArena arena;

  /// \brief HostWeights with `index` and a new zeroed arena of `index.arena_bytes` bytes, for
  /// the loaders and converters to fill; `*data` receives the writable arena.
  static HostWeights allocate(WeightIndex index, std::uint8_t** data) {
    HostWeights hw;
    hw.index = std::move(index);
    const auto bytes = std::size_t(hw.index.arena_bytes);
    auto* arena = static_cast<std::uint8_t*>(HostSpace::allocate(bytes));
    hw.arena.owner = std::shared_ptr<const void>(arena, [](const void* p) { HostSpace::deallocate(const_cast<void*>(p)); });
    hw.arena.base = arena;
    hw.arena.bytes = hw.index.arena_bytes;
    HostSpace::fill_zero(arena, bytes);
    *data = arena;
    return hw;
  }
};

MMFREE_NAMESPACE_END
