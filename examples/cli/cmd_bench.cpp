// SPDX-License-Identifier: MIT
// mmfree bench: decode (tg) and prefill (pp) speed of a model on a backend, with the memory it
// holds and the machine's bandwidth measured in the same process. This file only parses options;
// each backend's measurement lives in its own file (bench_kokkos.cpp for --backend kokkos).
#include <cstdio>

#include "common.hpp"

namespace mmfree_cli {

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure decode and prefill speed, memory and bandwidth");
  auto o = std::make_shared<BenchOptions>();
  auto batches = std::make_shared<std::string>("1");
  cmd->add_option("--backend", o->backend, "Backend")->check(CLI::IsMember(backend_names));
  cmd->add_option("--shape", o->shape, "Random model of a published shape")->check(CLI::IsMember({"370m", "1.3b", "2.7b"}));
  cmd->add_option("-m,--model", o->model, "Checkpoint directory (instead of --shape)");
  cmd->add_option("--packing", o->packing, "Weight packing")->check(CLI::IsMember(packing_names));
  cmd->add_option("--batch", *batches, "Sequences decoded together; a comma list runs each (\"1,16\")");
  cmd->add_option("--prompt", o->prompt, "Prompt tokens per sequence (pp)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--gen", o->gen, "Generated tokens per sequence (tg)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--chunk", o->chunk, "Prefill chunk (tokens per sequence a pass)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--reps", o->reps, "Repetitions (medians are reported)")->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", o->json, "Print one JSON object per batch size");
  cmd->add_flag("--explore", o->explore, "Also time kernel-choice variants and a per-kernel profile (batch 1)");
  cmd->callback([o, batches] {
    index_t rows = 0;
    const auto list = parse_ids(*batches, rows);
    if (rows != 1) throw mmfree::Error("--batch: give one comma-separated list");
    o->batches.clear();
    for (const std::int32_t b : list) {
      if (b < 1) throw mmfree::Error("--batch: batch sizes must be positive");
      o->batches.push_back(b);
    }
#if MMFREE_HAS_KOKKOS
    if (o->backend == "kokkos") return bench_kokkos(*o);
#endif
    throw mmfree::Error("bench: this build measures --backend kokkos only");
  });
}

}  // namespace mmfree_cli
