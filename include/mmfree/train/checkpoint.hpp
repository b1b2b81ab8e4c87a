// SPDX-License-Identifier: MIT
// Training checkpoints: the model in the Hugging Face layout (config.json + model.safetensors,
// readable by upstream PyTorch and by io::load_checkpoint) plus optimizer.safetensors beside it
// (AdamW moments and the trainer's position), written so an interrupted save never leaves a
// half-written checkpoint behind.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../io/checkpoint.hpp"
#include "../io/safetensors.hpp"
#include "optimizer.hpp"
#include "params.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// Where a run stands, beside the optimizer moments.
struct TrainState {
  std::int64_t step = 0;           ///< optimizer steps done
  std::uint64_t data_rng = 0;      ///< Batcher::rng_state()
  double tokens = 0.0;             ///< training tokens seen
  nlohmann::json extra = nlohmann::json::object();  ///< anything else the caller wants back (run options)
};

/// File holding the optimizer state inside a training checkpoint directory.
inline constexpr const char* optimizer_file_name = "optimizer.safetensors";

/// \brief Writes `dir` = config.json + model.safetensors (+ optimizer.safetensors when `opt` is
/// given). The files go to `dir`.tmp first, which then replaces `dir`.
inline void save_checkpoint(const std::filesystem::path& dir, const ParamLayout& L, const float* params,
                            const AdamW* opt = nullptr, const TrainState& state = {}) {
  namespace fs = std::filesystem;
  const fs::path tmp = dir.string() + ".tmp", old = dir.string() + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  io::write_checkpoint(tmp, L.config, parameter_tensors(L, params));
  if (opt != nullptr) {
    auto tensors = parameter_tensors(L, opt->first_moment().data(), "exp_avg.");
    auto v = parameter_tensors(L, opt->second_moment().data(), "exp_avg_sq.");
    tensors.insert(tensors.end(), v.begin(), v.end());
    nlohmann::json j;
    j["step"] = state.step;
    j["adam_steps"] = opt->steps();
    j["data_rng"] = std::to_string(state.data_rng);  // a string: JSON numbers lose 64-bit integers in some readers
    j["tokens"] = state.tokens;
    j["beta1"] = opt->options().beta1;
    j["beta2"] = opt->options().beta2;
    j["eps"] = opt->options().eps;
    j["weight_decay"] = opt->options().weight_decay;
    j["extra"] = state.extra;
    io::write_safetensors(tmp / optimizer_file_name, tensors, {{"format", "mmfree-adamw"}, {"state", j.dump()}});
  }
  fs::remove_all(old, ec);
  if (fs::exists(dir, ec)) {
    fs::rename(dir, old, ec);
    if (ec) throw Error("cannot move '" + dir.string() + "' aside: " + ec.message());
  }
  fs::rename(tmp, dir, ec);
  if (ec) throw Error("cannot rename '" + tmp.string() + "' to '" + dir.string() + "': " + ec.message());
  fs::remove_all(old, ec);
}

/// \brief Reads the optimizer state saved beside a checkpoint into `opt` (whose layout must be
/// the checkpoint's) and returns the trainer's position. Throws naming the file when it is
/// missing, malformed or of another shape.
inline TrainState load_optimizer_state(const std::filesystem::path& dir, const ParamLayout& L, AdamW& opt) {
  const std::filesystem::path file = dir / optimizer_file_name;
  const auto st = io::SafetensorsFile::open(file);
  auto meta = st.metadata().find("state");
  if (st.metadata().count("format") == 0 || st.metadata().at("format") != "mmfree-adamw" || meta == st.metadata().end())
    throw Error("'" + file.string() + "' is not an mmfree optimizer state (metadata format/state missing)");
  const nlohmann::json j = nlohmann::json::parse(meta->second, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j.contains("adam_steps") || !j.contains("data_rng"))
    throw Error("'" + file.string() + "': malformed optimizer state");
  for (const char* prefix : {"exp_avg.", "exp_avg_sq."}) {
    ParamBuffer& dst = std::string(prefix) == "exp_avg." ? opt.first_moment() : opt.second_moment();
    for (std::size_t k = 0; k < L.tensors.size(); ++k) {
      const std::string name = prefix + L.tensors[k].name;
      const io::TensorInfo& t = st.get(name);
      if (t.shape != L.tensors[k].shape || t.dtype != DType::F32)
        throw Error("'" + file.string() + "': tensor '" + name + "' has shape " + t.shape_string() +
                    " or type other than the model's (F32)");
      std::memcpy(dst.data() + L.offsets[k], t.data, std::size_t(t.bytes));
    }
  }
  TrainState s;
  try {
    s.step = j.at("step").get<std::int64_t>();
    opt.set_steps(j.at("adam_steps").get<std::int64_t>());
    s.data_rng = std::stoull(j.at("data_rng").get<std::string>());
    s.tokens = j.value("tokens", 0.0);
    s.extra = j.value("extra", nlohmann::json::object());
  } catch (const std::exception& e) {
    throw Error("'" + file.string() + "': malformed optimizer state (" + e.what() + ")");
  }
  return s;
}

}  // namespace train
MMFREE_NAMESPACE_END
