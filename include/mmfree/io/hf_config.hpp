// SPDX-License-Identifier: MIT
// Reads a Hugging Face `config.json` of model_type "hgrn_bit" into a ModelConfig, refusing the
// options this engine does not implement.
#pragma once

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/model_config.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// \brief ModelConfig from the text of a config.json; `file` names it in error messages.
inline ModelConfig parse_hf_config(const std::string& text, const std::string& file) {
  auto fail = [&](const std::string& what) { return Error("'" + file + "': " + what); };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw fail("malformed JSON");
  if (!j.is_object()) throw fail("not a JSON object");

  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  auto get_int = [&](const char* k, index_t def, bool required) -> index_t {
    if (!has(k)) {
      if (required) throw fail(std::string("missing required key '") + k + "'");
      return def;
    }
    const auto& v = j[k];
    if (!v.is_number_integer()) throw fail(std::string("'") + k + "' must be an integer");
    return index_t(v.get<std::int64_t>());
  };
  auto get_bool = [&](const char* k, bool def) -> bool {
    if (!has(k)) return def;
    if (!j[k].is_boolean()) throw fail(std::string("'") + k + "' must be true or false");
    return j[k].get<bool>();
  };
  auto get_num = [&](const char* k, double def) -> double {
    if (!has(k)) return def;
    if (!j[k].is_number()) throw fail(std::string("'") + k + "' must be a number");
    return j[k].get<double>();
  };
  auto get_str = [&](const char* k) -> std::string {
    if (!has(k)) return {};
    if (!j[k].is_string()) throw fail(std::string("'") + k + "' must be a string");
    return j[k].get<std::string>();
  };

  const std::string type = get_str("model_type");
  if (type != "hgrn_bit")
    throw fail("model_type is '" + type + "', mmfree runs only 'hgrn_bit' (MMfreeLM) checkpoints");
  if (get_bool("use_short_conv", false))
    throw fail("use_short_conv: true is not supported (the MMfreeLM checkpoints have no short convolution)");
  const index_t expand = get_int("expand_ratio", 1, false);
  if (expand != 1) throw fail("expand_ratio " + std::to_string(expand) + " is not supported (only 1)");
  const std::string act = get_str("hidden_act");
  if (!act.empty() && act != "swish" && act != "silu")
    throw fail("hidden_act '" + act + "' is not supported (only swish)");
  if (has("attn_mode")) (void)get_str("attn_mode");  // fused_recurrent / chunk: same function

  ModelConfig c;
  c.vocab_size = get_int("vocab_size", 0, true);
  c.hidden_size = get_int("hidden_size", 0, true);
  c.num_layers = get_int("num_hidden_layers", 0, true);
  c.num_heads = get_int("num_heads", 1, false);
  const double ratio = get_num("hidden_ratio", 4.0);
  if (!(ratio > 0.0 && ratio < 1e3)) throw fail("hidden_ratio must be positive");
  if (c.hidden_size <= 0) throw fail("hidden_size must be positive");
  c.intermediate_size =
      has("intermediate_size") ? get_int("intermediate_size", 0, true) : ModelConfig::default_intermediate(c.hidden_size, ratio);
  const double eps = get_num("rms_norm_eps", 1e-6);
  c.rms_norm_eps = float(eps);
  c.use_lower_bound = get_bool("use_lower_bound", true);
  c.tie_word_embeddings = get_bool("tie_word_embeddings", false);
  c.bos_token_id = std::int32_t(get_int("bos_token_id", 1, false));
  c.eos_token_id = std::int32_t(get_int("eos_token_id", 2, false));
  c.validate("'" + file + "'");
  return c;
}

/// \brief The config.json text for `c` (model_type hgrn_bit), readable by upstream and by
/// parse_hf_config.
inline std::string hf_config_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"HGRNBitForCausalLM"};
  j["model_type"] = "hgrn_bit";
  j["attn_mode"] = "fused_recurrent";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_layers;
  j["intermediate_size"] = c.intermediate_size;
  j["hidden_ratio"] = 4;
  j["num_heads"] = c.num_heads;
  j["expand_ratio"] = 1;
  j["use_short_conv"] = false;
  j["conv_size"] = 4;
  j["share_conv_kernel"] = true;
  j["use_lower_bound"] = c.use_lower_bound;
  j["hidden_act"] = "swish";
  j["max_position_embeddings"] = 2048;
  j["rms_norm_eps"] = double(c.rms_norm_eps);
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["pad_token_id"] = nullptr;
  j["use_cache"] = true;
  j["initializer_range"] = 0.02;
  j["fuse_cross_entropy"] = true;
  return j.dump(2) + "\n";
}

}  // namespace io
MMFREE_NAMESPACE_END
