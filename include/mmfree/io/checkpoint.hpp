// SPDX-License-Identifier: MIT
// Hugging Face checkpoint directories (config.json + model.safetensors, or shards listed in
// model.safetensors.index.json), and their conversion into packed HostWeights.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/buffer.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../core/model_config.hpp"
#include "../core/quantize.hpp"
#include "../model/weights.hpp"
#include "hf_config.hpp"
#include "mapped_file.hpp"
#include "progress.hpp"
#include "safetensors.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// \brief An opened checkpoint directory: its config and every tensor of every shard (mapped).
class Checkpoint {
 public:
  /// Opens `dir`: reads config.json, then model.safetensors or the shards named by
  /// model.safetensors.index.json. Throws mmfree::Error naming the file at fault.
  static Checkpoint open(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    Checkpoint c;
    c.dir_ = dir;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw Error("checkpoint directory '" + dir.string() + "' does not exist");
    const fs::path cfg = dir / "config.json";
    c.config_ = parse_hf_config(read_text_file(cfg), cfg.string());
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(single, ec)) {
      c.add_file(single);
    } else if (fs::exists(index, ec)) {
      c.read_index(index);
    } else {
      throw Error("no model.safetensors or model.safetensors.index.json in '" + dir.string() + "'");
    }
    return c;
  }

  const ModelConfig& config() const { return config_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }

  /// The tensor called `name`, or nullptr.
  const TensorInfo* find(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second].find(name);
  }
  /// The tensor called `name` with the given shape; throws naming the tensor and file otherwise.
  const TensorInfo& tensor(const std::string& name, const std::vector<index_t>& shape) const {
    const TensorInfo* t = find(name);
    if (t == nullptr) throw Error("tensor '" + name + "' is missing from checkpoint '" + dir_.string() + "'");
    if (t->shape != shape) {
      TensorInfo want;
      want.shape = shape;
      throw Error("tensor '" + name + "' in '" + t->file + "' has shape " + t->shape_string() +
                  " but the config implies " + want.shape_string());
    }
    return *t;
  }

 private:
  void add_file(const std::filesystem::path& p) {
    files_.push_back(SafetensorsFile::open(p));
    const std::size_t k = files_.size() - 1;
    for (const auto& t : files_[k].tensors()) where_[t.name] = k;
  }

  void read_index(const std::filesystem::path& index) {
    const std::string file = index.string();
    nlohmann::json j = nlohmann::json::parse(read_text_file(index), nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("'" + file + "': malformed JSON");
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object() || wm->empty())
      throw Error("'" + file + "': missing or empty 'weight_map' object");
    std::map<std::string, std::size_t> shard_of_file;
    std::map<std::string, std::string> expected;  // tensor -> shard file name
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) throw Error("'" + file + "': weight_map entry '" + it.key() + "' is not a file name");
      const std::string shard = it.value().get<std::string>();
      const std::filesystem::path sp(shard);
      if (shard.empty() || sp.is_absolute() || sp.has_parent_path() || shard == "." || shard == "..")
        throw Error("'" + file + "': shard name '" + shard + "' must be a plain file name in the checkpoint directory");
      if (!shard_of_file.count(shard)) {
        add_file(dir_ / sp);
        shard_of_file[shard] = files_.size() - 1;
      }
      expected[it.key()] = shard;
    }
    // every tensor the index names must be in the shard it names
    for (const auto& [name, shard] : expected) {
      if (files_[shard_of_file[shard]].find(name) == nullptr)
        throw Error("'" + file + "' says tensor '" + name + "' is in '" + shard + "', but that shard does not hold it");
      where_[name] = shard_of_file[shard];
    }
  }

  std::filesystem::path dir_;
  ModelConfig config_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;
};

namespace detail {

/// Throws unless every value of `t` is finite (a corrupted or diverged file must not load).
inline void check_finite(const TensorInfo& t) {
  const index_t n = t.numel();
  for (index_t i = 0; i < n; ++i)
    if (!std::isfinite(t.at(i)))
      throw Error("tensor '" + t.name + "' in '" + t.file + "' holds a non-finite value at element " + std::to_string(i));
}

inline void check_float(const TensorInfo& t) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16 && t.dtype != DType::F64)
    throw Error("tensor '" + t.name + "' in '" + t.file + "' has dtype " + std::string(dtype_name(t.dtype)) +
                ", expected a floating-point type");
}

/// Converts a float tensor to f32 at dst (checked finite).
inline void copy_f32(const TensorInfo& t, std::uint8_t* dst) {
  check_float(t);
  check_finite(t);
  float* out = reinterpret_cast<float*>(dst);
  for (index_t i = 0; i < t.numel(); ++i) out[i] = t.at(i);
}

/// Ternarises a latent [N, K] weight (absmean scale over the whole tensor) and packs it with P.
template <WeightPacking P>
float ternarize_pack(const TensorInfo& t, std::uint8_t* dst) {
  check_float(t);
  const index_t N = t.shape[0], K = t.shape[1];
  double abs_sum = 0.0;
  for (index_t i = 0; i < N * K; ++i) {
    const float v = t.at(i);
    if (!std::isfinite(v))
      throw Error("tensor '" + t.name + "' in '" + t.file + "' holds a non-finite value at element " + std::to_string(i));
    abs_sum += std::fabs(double(v));
  }
  const float w_scale = ref::weight_scale_from_abs_sum(abs_sum, double(N) * double(K));
  std::vector<std::int8_t> codes(static_cast<std::size_t>(K));
  const index_t rb = packed_row_bytes<P>(K);
  for (index_t n = 0; n < N; ++n) {
    for (index_t k = 0; k < K; ++k) codes[std::size_t(k)] = ref::ternarize_value(t.at(n * K + k), w_scale);
    P::pack_row(codes.data(), K, dst + n * rb);
  }
  return w_scale;
}

}  // namespace detail

/// \brief The lower bounds the layers use from the stored `model.lower_bounds` [L, H]:
/// p = softmax over layers per channel, lb = cumsum(p) - p[0], in double (upstream's
/// HGRNBitModel.forward). `z(i)` reads stored element i; `probs` (optional, [L, H]) receives p.
/// Shared by the loader and the trainer so both get the same bits.
template <class Get>
void lower_bounds_transform(Get z, index_t L, index_t H, float* out, double* probs = nullptr) {
  for (index_t h = 0; h < H; ++h) {
    double mx = -HUGE_VAL;
    for (index_t l = 0; l < L; ++l) mx = std::max(mx, double(z(l * H + h)));
    double sum = 0.0;
    for (index_t l = 0; l < L; ++l) sum += std::exp(double(z(l * H + h)) - mx);
    double cum = 0.0, p0 = 0.0;
    for (index_t l = 0; l < L; ++l) {
      const double p = std::exp(double(z(l * H + h)) - mx) / sum;
      if (l == 0) p0 = p;
      if (probs != nullptr) probs[l * H + h] = p;
      cum += p;
      out[l * H + h] = float(cum - p0);
    }
  }
}

/// \brief Packs a checkpoint's latent weights with packing P: ternary codes and scales, f32 norm
/// weights, lower bounds already transformed (softmax over layers, cumsum, minus the first),
/// embeddings kept in their stored type. Checks every tensor's presence, shape and finiteness.
template <WeightPacking P>
HostWeights pack_checkpoint(const Checkpoint& ck, const ProgressFn& progress = {}) {
  const ModelConfig& cfg = ck.config();
  const index_t H = cfg.hidden_size, V = cfg.vocab_size, L = cfg.num_layers;
  const TensorInfo& emb = ck.tensor("model.embeddings.weight", {V, H});
  detail::check_float(emb);
  const DType emb_type = emb.dtype == DType::F64 ? DType::F32 : emb.dtype;

  std::uint8_t* arena = nullptr;
  HostWeights hw = HostWeights::allocate(WeightIndex::plan<P>(cfg, emb_type), &arena);
  WeightIndex& idx = hw.index;

  // embeddings: same type as stored (f64 narrowed to f32)
  detail::check_finite(emb);
  if (emb.dtype == DType::F64)
    detail::copy_f32(emb, arena + idx.embeddings.offset);
  else
    std::memcpy(arena + idx.embeddings.offset, emb.data, std::size_t(emb.bytes));

  auto norm = [&](const std::string& name, index_t n, const TensorSlot& slot) {
    detail::copy_f32(ck.tensor(name, {n}), arena + slot.offset);
  };
  auto tern = [&](const std::string& name, TernarySlot& slot) {
    const TensorInfo& w = ck.tensor(name + ".weight", {slot.rows, slot.cols});
    slot.w_scale = detail::ternarize_pack<P>(w, arena + slot.codes.offset);
    norm(name + ".norm.weight", slot.cols, slot.norm);
  };

  if (cfg.use_lower_bound) {
    const TensorInfo& lb = ck.tensor("model.lower_bounds", {L, H});
    detail::check_float(lb);
    detail::check_finite(lb);
    float* out = reinterpret_cast<float*>(arena + idx.lower_bounds.offset);
    lower_bounds_transform([&](index_t i) { return lb.at(i); }, L, H, out);
  }
  for (index_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerSlots& s = idx.layers[std::size_t(l)];
    norm(p + "attn_norm.weight", H, s.attn_norm);
    tern(p + "attn.i_proj", s.i_proj);
    tern(p + "attn.f_proj", s.f_proj);
    tern(p + "attn.g_proj", s.g_proj);
    tern(p + "attn.o_proj", s.o_proj);
    norm(p + "attn.g_norm.weight", H, s.g_norm);
    norm(p + "mlp_norm.weight", H, s.mlp_norm);
    tern(p + "mlp.gate_proj", s.gate_proj);
    tern(p + "mlp.down_proj", s.down_proj);
    if (progress) progress(double(l + 1) / double(L + 1));
  }
  norm("model.norm.weight", H, idx.final_norm);
  if (cfg.tie_word_embeddings && ck.find("lm_head.weight") == nullptr) {
    idx.lm_head.w_scale = detail::ternarize_pack<P>(emb, arena + idx.lm_head.codes.offset);
    norm("lm_head.norm.weight", H, idx.lm_head.norm);
  } else {
    tern("lm_head", idx.lm_head);
  }
  if (progress) progress(1.0);
  return hw;
}

/// Name and shape of one stored parameter.
struct ParameterShape {
  std::string name;
  std::vector<index_t> shape;
};

/// \brief Every parameter an hgrn_bit checkpoint of `cfg` stores, in upstream's order and naming
/// (model-spec.md "Shapes and names").
inline std::vector<ParameterShape> hf_parameters(const ModelConfig& cfg) {
  const index_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size, L = cfg.num_layers;
  std::vector<ParameterShape> p;
  p.push_back({"model.embeddings.weight", {V, H}});
  if (cfg.use_lower_bound) p.push_back({"model.lower_bounds", {L, H}});
  for (index_t l = 0; l < L; ++l) {
    const std::string s = "model.layers." + std::to_string(l) + ".";
    p.push_back({s + "attn_norm.weight", {H}});
    for (const char* proj : {"i_proj", "f_proj", "g_proj", "o_proj"}) {
      p.push_back({s + "attn." + proj + ".weight", {H, H}});
      p.push_back({s + "attn." + proj + ".norm.weight", {H}});
    }
    p.push_back({s + "attn.g_norm.weight", {H}});
    p.push_back({s + "mlp_norm.weight", {H}});
    p.push_back({s + "mlp.gate_proj.weight", {2 * I, H}});
    p.push_back({s + "mlp.gate_proj.norm.weight", {H}});
    p.push_back({s + "mlp.down_proj.weight", {H, I}});
    p.push_back({s + "mlp.down_proj.norm.weight", {I}});
  }
  p.push_back({"model.norm.weight", {H}});
  p.push_back({"lm_head.weight", {V, H}});
  p.push_back({"lm_head.norm.weight", {H}});
  return p;
}

/// \brief Writes a checkpoint directory in the Hugging Face layout: config.json plus
/// model.safetensors, or `shards` files model-0000k-of-0000n.safetensors and
/// model.safetensors.index.json when shards > 1.
inline void write_checkpoint(const std::filesystem::path& dir, const ModelConfig& cfg,
                             const std::vector<TensorToWrite>& tensors, int shards = 1) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create directory '" + dir.string() + "': " + ec.message());
  {
    std::ofstream out(dir / "config.json", std::ios::trunc);
    out << hf_config_json(cfg);
    if (!out) throw Error("cannot write '" + (dir / "config.json").string() + "'");
  }
  const std::map<std::string, std::string> meta{{"format", "pt"}};
  if (shards <= 1) {
    write_safetensors(dir / "model.safetensors", tensors, meta);
    return;
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", 0}};
  index["weight_map"] = nlohmann::ordered_json::object();
  std::int64_t total = 0;
  const std::size_t per = (tensors.size() + std::size_t(shards) - 1) / std::size_t(shards);
  for (int k = 0; k < shards; ++k) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", k + 1, shards);
    std::vector<TensorToWrite> part;
    for (std::size_t i = std::size_t(k) * per; i < std::min(tensors.size(), std::size_t(k + 1) * per); ++i) {
      part.push_back(tensors[i]);
      index["weight_map"][tensors[i].name] = name;
      total += tensors[i].bytes;
    }
    write_safetensors(dir / name, part, meta);
  }
  index["metadata"]["total_size"] = total;
  std::ofstream out(dir / "model.safetensors.index.json", std::ios::trunc);
  out << index.dump(2) << "\n";
  if (!out) throw Error("cannot write '" + (dir / "model.safetensors.index.json").string() + "'");
}

/// \brief Opens a checkpoint directory and packs it with P (see pack_checkpoint).
template <WeightPacking P>
HostWeights load_checkpoint(const std::filesystem::path& dir, const ProgressFn& progress = {}) {
  return pack_checkpoint<P>(Checkpoint::open(dir), progress);
}

}  // namespace io

using io::load_checkpoint;

MMFREE_NAMESPACE_END
