// SPDX-License-Identifier: MIT
// mmfree convert: checkpoint directory (or packed file) -> one packed .mmfree file.
#include <chrono>
#include <cstdio>

#include "common.hpp"

namespace mmfree_cli {

void register_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Pack a checkpoint into one memory-mappable .mmfree file");
  struct Opts {
    std::string model, out, packing, embeddings = "keep", random;
    std::uint64_t seed = 1;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "Checkpoint directory (or a packed file to repack)");
  cmd->add_option("--random", o->random, "Instead of -m: random weights of a published shape (370m, 1.3b, 2.7b)")
      ->check(CLI::IsMember({"370m", "1.3b", "2.7b"}));
  cmd->add_option("--seed", o->seed, "Seed of --random");
  cmd->add_option("-o,--output", o->out, "Output file")->required();
  cmd->add_option("--packing", o->packing, "Packing of the ternary codes (default: i2, or the packing of a packed -m file)")
      ->check(CLI::IsMember(packing_names));
  cmd->add_option("--embeddings", o->embeddings,
                  "Embedding table: keep (as stored, exact), f32, bf16, f16, int8 (one scale per row; not exact)")
      ->check(CLI::IsMember({"keep", "f32", "bf16", "f16", "int8"}));
  add_no_verify(cmd);
  cmd->callback([o] {
    if (o->model.empty() == o->random.empty()) throw mmfree::Error("convert: give exactly one of -m MODEL and --random SHAPE");
    const auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    if (o->packing.empty())
      o->packing = !o->model.empty() && !std::filesystem::is_directory(o->model, ec) && mmfree::io::is_model_file(o->model)
                       ? mmfree::io::read_model_file(o->model, {.verify = false}).index.packing
                       : "i2";
    mmfree::packing::with_packing(o->packing, [&]<class P>(P) {
      mmfree::HostWeights w;
      if (!o->random.empty()) {
        std::fprintf(stderr, "random weights of the %s shape...\n", o->random.c_str());
        w = mmfree::random_weights<P>(mmfree::preset_config(o->random), o->seed);
      } else {
        ProgressBar bar("packing");
        w = mmfree::load_weights<P>(o->model, {.verify = g_verify}, std::ref(bar));
        bar(1.0);
      }
      if (o->embeddings != "keep") {
        const mmfree::DType t = o->embeddings == "f32"    ? mmfree::DType::F32
                                : o->embeddings == "bf16" ? mmfree::DType::BF16
                                : o->embeddings == "f16"  ? mmfree::DType::F16
                                                          : mmfree::DType::I8;
        w = mmfree::convert_embeddings(std::move(w), t);
      }
      ProgressBar bar("writing");
      mmfree::write_model_file(o->out, w, std::ref(bar));
      bar(1.0);
      const auto& c = w.index.config;
      const double bytes = double(std::filesystem::file_size(o->out));
      const double bf16 = double(c.total_params()) * 2.0;
      std::fprintf(stderr, "wrote %s: %.2f MB (%s codes, %s embeddings), %.2fx smaller than the bf16 checkpoint (%.2f MB), %.1f s\n",
                   o->out.c_str(), bytes / 1e6, o->packing.c_str(), std::string(mmfree::dtype_name(w.index.embedding_dtype)).c_str(),
                   bf16 / bytes, bf16 / 1e6,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    });
  });
}

}  // namespace mmfree_cli
