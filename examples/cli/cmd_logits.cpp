// SPDX-License-Identifier: MIT
// mmfree logits: run a model on given token ids and write the f32 logits [batch, time, vocab]
// as tensor "logits" of a safetensors file: how anyone checks parity with PyTorch.
#include <cstdio>

#include "common.hpp"

namespace mmfree_cli {

void register_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Compute logits for token ids and write them to a safetensors file");
  struct Opts {
    std::string model, ids, mode = "prefill", backend = "serial", packing = "auto", act = "int8", out;
    std::string simd_path = "best";
    int threads = 1;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "Checkpoint directory or packed .mmfree file")->required();
  add_no_verify(cmd);
  cmd->add_option("--ids", o->ids, "Token ids: rows separated by ';', ids by ',' (\"1,2,3;4,5,6\")")->required();
  cmd->add_option("--mode", o->mode, "prefill (whole sequence at once) or step (token by token)")
      ->check(CLI::IsMember({"prefill", "step"}));
  cmd->add_option("--backend", o->backend, "Backend")->check(CLI::IsMember(backend_names));
  cmd->add_option("--packing", o->packing, "Weight packing in memory (auto: a packed file's own, else i2)")
      ->check(CLI::IsMember(packing_choices));
  cmd->add_option("--act", o->act, "Activation precision")->check(CLI::IsMember(act_names));
  cmd->add_option("-o,--output", o->out, "Output .safetensors file")->required();
  cmd->add_option("--threads", o->threads, "Threads (backend simd)")->check(CLI::Range(1, 1024));
  cmd->add_option("--simd-path", o->simd_path, "SIMD kernels: best, scalar, avx2, avx_vnni, avx512bw, avx512_vnni, neon, "
                  "neon_dotprod (backend simd)");
  cmd->callback([o] {
    index_t batch = 0;
    const auto ids = parse_ids(o->ids, batch);
    const index_t T = index_t(ids.size()) / batch;
    with_policy(o->backend, resolve_packing(o->model, o->packing), o->act, [&]<class Pol>(Pol) {
      mmfree::Model<Pol> model(load_weights<typename Pol::packing>(o->model));
      auto ctx = [&] { return make_context<typename Pol::backend>(o->threads, o->simd_path); };
      const index_t V = model.config().vocab_size;
      std::vector<float> logits(std::size_t(batch * T * V));
      auto state = model.make_state(batch);
      if (o->mode == "prefill") {
        auto ws = model.make_workspace({.max_batch = batch, .max_chunk = std::min<index_t>(T, 256)}, ctx());
        model.prefill(ws, state, ids, batch, logits, mmfree::Logits::all);
      } else {
        auto ws = model.make_workspace({.max_batch = batch, .max_chunk = 1, .all_logits = false}, ctx());
        std::vector<std::int32_t> tok(static_cast<std::size_t>(batch));
        std::vector<float> one(static_cast<std::size_t>(batch * V));
        for (index_t t = 0; t < T; ++t) {
          for (index_t b = 0; b < batch; ++b) tok[std::size_t(b)] = ids[std::size_t(b * T + t)];
          model.step(ws, state, tok, one);
          for (index_t b = 0; b < batch; ++b)
            std::copy_n(one.begin() + b * V, V, logits.begin() + (b * T + t) * V);
        }
      }
      mmfree::io::write_safetensors(o->out, {{"logits", mmfree::DType::F32, {batch, T, V}, logits.data(),
                                              index_t(logits.size() * sizeof(float))}});
    });
    std::fprintf(stderr, "wrote logits [%lld, %lld, vocab] to %s\n", (long long)batch, (long long)T, o->out.c_str());
  });
}

}  // namespace mmfree_cli
