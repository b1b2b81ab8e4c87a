// SPDX-License-Identifier: MIT
// The trainable parameters of an hgrn_bit model as ONE flat f32 array (latent weights, norms,
// embeddings, lower bounds), laid out in upstream's naming and order. Gradients and optimizer
// moments use the same layout, so an update is one loop over one array.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../core/buffer.hpp"
#include "../core/error.hpp"
#include "../core/model_config.hpp"
#include "../core/numeric.hpp"
#include "../io/checkpoint.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// Offsets (in floats) of one BitLinear's latent weight [rows, cols] and input-norm weight [cols].
struct LinearSlot {
  index_t weight = 0;
  index_t norm = 0;
  index_t rows = 0;  ///< N (outputs)
  index_t cols = 0;  ///< K (inputs)
};

/// Offsets of one block's parameters (model.layers.{l}).
struct LayerSlot {
  index_t attn_norm = 0, g_norm = 0, mlp_norm = 0;
  LinearSlot i, f, g, o, gate, down;
};

/// \brief Where every parameter of a model of `config` lives in the flat array.
///
/// Tensors are in io::hf_parameters() order (upstream's), each starting on a 64-byte boundary.
struct ParamLayout {
  ModelConfig config;
  std::vector<io::ParameterShape> tensors;  ///< names and shapes, hf_parameters order
  std::vector<index_t> offsets;             ///< offset of each tensor, in floats
  index_t embeddings = 0;                   ///< [V, H]
  index_t lower_bounds = -1;                ///< [L, H] raw (before softmax/cumsum); -1 without lower bounds
  index_t final_norm = 0;                   ///< [H]
  LinearSlot lm_head;
  std::vector<LayerSlot> layers;
  index_t total = 0;  ///< floats in the array (padding included)

  /// The layout of `cfg` (validated; tied embeddings are refused: they cannot be trained here).
  static ParamLayout of(const ModelConfig& cfg) {
    cfg.validate();
    if (cfg.tie_word_embeddings)
      throw Error("training: tie_word_embeddings is not supported (lm_head is a ternary BitLinear of its own)");
    ParamLayout p;
    p.config = cfg;
    p.tensors = io::hf_parameters(cfg);
    index_t at = 0;
    for (const auto& t : p.tensors) {
      p.offsets.push_back(at);
      at += (numel(t) + 15) / 16 * 16;
    }
    p.total = at;
    auto off = [&](const std::string& name) { return p.offsets[std::size_t(p.index_of(name))]; };
    auto lin = [&](const std::string& name, index_t rows, index_t cols) {
      return LinearSlot{off(name + ".weight"), off(name + ".norm.weight"), rows, cols};
    };
    const index_t H = cfg.hidden_size, I = cfg.intermediate_size;
    p.embeddings = off("model.embeddings.weight");
    if (cfg.use_lower_bound) p.lower_bounds = off("model.lower_bounds");
    for (index_t l = 0; l < cfg.num_layers; ++l) {
      const std::string s = "model.layers." + std::to_string(l) + ".";
      LayerSlot ls;
      ls.attn_norm = off(s + "attn_norm.weight");
      ls.i = lin(s + "attn.i_proj", H, H);
      ls.f = lin(s + "attn.f_proj", H, H);
      ls.g = lin(s + "attn.g_proj", H, H);
      ls.o = lin(s + "attn.o_proj", H, H);
      ls.g_norm = off(s + "attn.g_norm.weight");
      ls.mlp_norm = off(s + "mlp_norm.weight");
      ls.gate = lin(s + "mlp.gate_proj", 2 * I, H);
      ls.down = lin(s + "mlp.down_proj", H, I);
      p.layers.push_back(ls);
    }
    p.final_norm = off("model.norm.weight");
    p.lm_head = lin("lm_head", cfg.vocab_size, H);
    return p;
  }

  static index_t numel(const io::ParameterShape& t) {
    index_t n = 1;
    for (index_t d : t.shape) n *= d;
    return n;
  }
  /// Position of tensor `name` in `tensors`, or -1.
  index_t index_of(const std::string& name) const {
    for (std::size_t k = 0; k < tensors.size(); ++k)
      if (tensors[k].name == name) return index_t(k);
    return -1;
  }
  /// Every BitLinear of the model (layers in order, then lm_head).
  std::vector<LinearSlot> linears() const {
    std::vector<LinearSlot> v;
    for (const auto& l : layers)
      for (const LinearSlot* s : {&l.i, &l.f, &l.g, &l.o, &l.gate, &l.down}) v.push_back(*s);
    v.push_back(lm_head);
    return v;
  }
  /// True for the tensors AdamW decays: 2-D weights (projections, lm_head, embeddings), not
  /// norms or lower bounds.
  bool decayed(std::size_t k) const { return tensors[k].shape.size() == 2 && tensors[k].name != "model.lower_bounds"; }
};

/// \brief An f32 array in a ParamLayout: parameters, gradients or optimizer moments.
class ParamBuffer {
 public:
  ParamBuffer() = default;
  explicit ParamBuffer(const ParamLayout& layout) : buf_(layout.total) {}
  float* data() { return buf_.data(); }
  const float* data() const { return buf_.data(); }
  index_t size() const { return buf_.size(); }
  void zero() { HostSpace::fill_zero(buf_.data(), buf_.bytes()); }
  void copy_from(const ParamBuffer& o) {
    check(o.size() == size(), "ParamBuffer: size mismatch");
    std::memcpy(buf_.data(), o.buf_.data(), buf_.bytes());
  }

 private:
  Buffer<float, HostSpace> buf_;
};

/// How fresh parameters are drawn (upstream's HGRNBit initialisation).
struct InitOptions {
  float std = 0.02f;            ///< normal(0, std) for every projection, lm_head and the embeddings
  bool rescale_residual = true;  ///< o_proj and down_proj divided by sqrt(2 * layers) (GPT-2 scheme)
};

/// splitmix64: tiny, fast, identical on every platform.
struct SplitMix64 {
  std::uint64_t s;
  explicit SplitMix64(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// uniform in (0, 1)
  double uniform() { return (double(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  /// standard normal (Box-Muller in double; libm differences below f32 precision)
  double normal() {
    const double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  /// uniform integer in [0, n)
  std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
};

/// \brief Fresh parameters: normal(0, std) matrices (o/down rescaled), norms 1, lower bounds 0.
inline void init_parameters(const ParamLayout& L, ParamBuffer& p, std::uint64_t seed, const InitOptions& opt = {}) {
  check(p.size() == L.total, "init_parameters: buffer does not match the layout");
  p.zero();
  SplitMix64 rng(seed);
  const double resid = opt.rescale_residual ? 1.0 / std::sqrt(2.0 * double(L.config.num_layers)) : 1.0;
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const auto& t = L.tensors[k];
    float* d = p.data() + L.offsets[k];
    const index_t n = ParamLayout::numel(t);
    if (t.name == "model.lower_bounds") continue;  // zeros: equal softmax weights
    if (t.shape.size() == 1) {
      for (index_t i = 0; i < n; ++i) d[i] = 1.0f;
      continue;
    }
    const bool residual = t.name.ends_with("o_proj.weight") || t.name.ends_with("down_proj.weight");
    const double s = double(opt.std) * (residual ? resid : 1.0);
    for (index_t i = 0; i < n; ++i) d[i] = float(rng.normal() * s);
  }
}

/// \brief Copies every parameter of an opened checkpoint (any float type) into `p`, checking
/// presence, shape and finiteness.
inline void load_parameters(const ParamLayout& L, const io::Checkpoint& ck, ParamBuffer& p) {
  check(p.size() == L.total, "load_parameters: buffer does not match the layout");
  p.zero();
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const auto& t = ck.tensor(L.tensors[k].name, L.tensors[k].shape);
    io::detail::check_float(t);
    float* d = p.data() + L.offsets[k];
    for (index_t i = 0; i < t.numel(); ++i) {
      const float v = t.at(i);
      if (!std::isfinite(v))
        throw Error("tensor '" + t.name + "' in '" + t.file + "' holds a non-finite value at element " + std::to_string(i));
      d[i] = v;
    }
  }
}

/// \brief The tensors of `p` (f32, views into it) ready for io::write_checkpoint / write_safetensors.
/// `prefix` is prepended to every name (e.g. "grad.").
inline std::vector<io::TensorToWrite> parameter_tensors(const ParamLayout& L, const float* p,
                                                        const std::string& prefix = "") {
  std::vector<io::TensorToWrite> v;
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const auto& t = L.tensors[k];
    v.push_back({prefix + t.name, DType::F32, t.shape, p + L.offsets[k], ParamLayout::numel(t) * index_t(sizeof(float))});
  }
  return v;
}

}  // namespace train
MMFREE_NAMESPACE_END
