// SPDX-License-Identifier: MIT
// mmfree bench: speed of a random-weight model of a published shape, against the memory
// bandwidth measured in the same process. The CPU work is in bench_cpu.cpp.
#include "bench.hpp"
#include "common.hpp"

namespace mmfree_cli {

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Prefill/decode speed of a random model of a published shape vs. memory bandwidth");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("--shape", o->shape, "Model shape")->check(CLI::IsMember({"370m", "1.3b", "2.7b"}));
  cmd->add_option("-m,--model", o->model, "Checkpoint directory or packed .mmfree file (instead of --shape)")->excludes("--shape");
  cmd->add_option("--threads", o->threads, "Threads")->check(CLI::Range(1, 1024));
  cmd->add_option("--backend", o->backend, "Backend")->check(CLI::IsMember(backend_names));
  cmd->add_option("--packing", o->packing, "Weight packing")->check(CLI::IsMember(packing_names));
  cmd->add_option("--simd-path", o->simd_path, "SIMD kernels (backend simd): best, scalar, avx2, avx_vnni, avx512bw, "
                  "avx512_vnni, neon, neon_dotprod");
  cmd->add_option("--pp", o->prompt, "Prompt tokens of the prefill test (pp)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--tg", o->generate, "Generated tokens of the decode test (tg)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--repeat", o->repeat, "Timed repetitions (medians are reported)")->check(CLI::Range(1, 100));
  cmd->add_option("--seed", o->seed, "Seed of the random weights");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] { run_cpu_bench(*o); });
}

}  // namespace mmfree_cli
