// SPDX-License-Identifier: MIT
// mmfree info -m DIR|FILE: configuration, parameter counts and the size of the weights per packing.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.hpp"

namespace mmfree_cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print a model's configuration, parameter counts and packed sizes");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-m,--model", *model, "Checkpoint directory or packed .mmfree file")->required();
  cmd->add_flag("--json", *json, "Print one JSON object");
  add_no_verify(cmd);
  cmd->callback([=] {
    mmfree::ModelConfig c;
    index_t stored = 0;
    std::string format = "checkpoint", file_packing, file_embeddings;
    std::error_code ec;
    if (!std::filesystem::is_directory(*model, ec) && mmfree::io::is_model_file(*model)) {
      const auto w = mmfree::io::read_model_file(*model, {.verify = g_verify});
      c = w.index.config;
      stored = index_t(std::filesystem::file_size(*model));
      format = "mmfree";
      file_packing = w.index.packing;
      file_embeddings = std::string(mmfree::dtype_name(w.index.embedding_dtype));
    } else {
      auto ck = mmfree::io::Checkpoint::open(*model);
      c = ck.config();
      for (const auto& f : ck.files())
        for (const auto& t : f.tensors()) stored += t.bytes;
    }
    const index_t nonternary = c.total_params() - c.ternary_params();  // embeddings, norms, lower bounds
    nlohmann::ordered_json j;
    j["model"] = *model;
    j["format"] = format;
    if (format == "mmfree") {
      j["packing"] = file_packing;
      j["embedding_dtype"] = file_embeddings;
    }
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["num_layers"] = c.num_layers;
    j["intermediate_size"] = c.intermediate_size;
    j["num_heads"] = c.num_heads;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["use_lower_bound"] = c.use_lower_bound;
    j["params_total"] = c.total_params();
    j["params_ternary"] = c.ternary_params();
    j["params_full_precision"] = nonternary;
    j[format == "mmfree" ? "file_bytes" : "checkpoint_bytes"] = stored;
    j["recurrent_state_bytes_per_sequence"] = c.num_layers * c.hidden_size * 4;
    nlohmann::ordered_json packs;
    packs["i8"] = packed_ternary_bytes<mmfree::packing::I8>(c);
    packs["i2"] = packed_ternary_bytes<mmfree::packing::I2>(c);
    packs["tq1"] = packed_ternary_bytes<mmfree::packing::TQ1>(c);
    j["ternary_bytes"] = packs;
    if (*json) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("model              %s\n", model->c_str());
    std::printf("shape              V=%lld H=%lld L=%lld I=%lld heads=%lld\n", (long long)c.vocab_size,
                (long long)c.hidden_size, (long long)c.num_layers, (long long)c.intermediate_size,
                (long long)c.num_heads);
    std::printf("options            rms_norm_eps=%g lower_bound=%s\n", double(c.rms_norm_eps),
                c.use_lower_bound ? "yes" : "no");
    std::printf("parameters         %.3f M total, %.3f M ternary, %.3f M full precision\n", c.total_params() / 1e6,
                c.ternary_params() / 1e6, nonternary / 1e6);
    if (format == "mmfree")
      std::printf("packed file        %.2f MB (%s codes, %s embeddings)\n", stored / 1e6, file_packing.c_str(),
                  file_embeddings.c_str());
    else
      std::printf("checkpoint         %.2f MB stored\n", stored / 1e6);
    std::printf("state/sequence     %.1f KiB\n", c.num_layers * c.hidden_size * 4 / 1024.0);
    std::printf("ternary weights    i8 %.2f MB | i2 %.2f MB | tq1 %.2f MB  (read once per decoded token)\n",
                packs["i8"].get<double>() / 1e6, packs["i2"].get<double>() / 1e6, packs["tq1"].get<double>() / 1e6);
  });
}

}  // namespace mmfree_cli
