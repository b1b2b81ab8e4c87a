// SPDX-License-Identifier: MIT
// mmfree bench: speed of a random-weight model of a published shape, against the memory
// bandwidth measured in the same process. This file only parses options; the CPU measurement is
// in bench_cpu.cpp (--backend serial|simd), the GPU one in bench_kokkos.cpp (--backend kokkos).
#include "bench.hpp"
#include "common.hpp"

namespace mmfree_cli {

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Prefill/decode speed of a random model of a published shape vs. memory bandwidth");
  auto o = std::make_shared<BenchOptions>();
  auto k = std::make_shared<KokkosBenchOptions>();  // what only --backend kokkos reads
  auto batches = std::make_shared<std::string>("1");
  cmd->add_option("--shape", o->shape, "Model shape")->check(CLI::IsMember({"370m", "1.3b", "2.7b"}));
  cmd->add_option("-m,--model", o->model, "Checkpoint directory or packed .mmfree file (instead of --shape)")->excludes("--shape");
  cmd->add_option("--threads", o->threads, "Threads")->check(CLI::Range(1, 1024));
  cmd->add_option("--backend", o->backend, "Backend")->check(CLI::IsMember(backend_names));
  cmd->add_option("--packing", o->packing, "Weight packing")->check(CLI::IsMember(packing_names));
  cmd->add_option("--simd-path", o->simd_path, "SIMD kernels (backend simd): best, scalar, avx2, avx_vnni, avx512bw, "
                  "avx512_vnni, neon, neon_dotprod");
  cmd->add_option("--pp,--prompt", o->prompt, "Prompt tokens of the prefill test (pp)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--tg,--gen", o->generate, "Generated tokens of the decode test (tg)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--repeat,--reps", o->repeat, "Timed repetitions (medians are reported)")->check(CLI::Range(1, 100));
  cmd->add_option("--seed", o->seed, "Seed of the random weights");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->add_option("--batch", *batches, "Sequences decoded together, a comma list runs each (\"1,16\"; backend kokkos)");
  cmd->add_option("--chunk", k->chunk, "Prefill chunk, tokens per sequence a pass (backend kokkos; one pass is also measured at batch 1)")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--gemv-chain", k->gemv_chain, "Decode with the GEMV chain: each input quantised once, by the previous GEMV's last team (backend kokkos)");
  cmd->add_flag("--explore", k->explore, "Also time kernel variants and a per-kernel profile (backend kokkos, batch 1)");
  cmd->callback([o, k, batches] {
    if (o->backend != "kokkos") {
      if (*batches != "1" || k->explore || k->chunk != KokkosBenchOptions{}.chunk)
        throw mmfree::Error("bench: --batch, --chunk and --explore need --backend kokkos");
      return run_cpu_bench(*o);
    }
#if MMFREE_HAS_KOKKOS
    index_t rows = 0;
    const auto list = parse_ids(*batches, rows);
    if (rows != 1) throw mmfree::Error("--batch: give one comma-separated list");
    k->batches.clear();
    for (const std::int32_t b : list) {
      if (b < 1) throw mmfree::Error("--batch: batch sizes must be positive");
      k->batches.push_back(b);
    }
    k->shape = o->shape;
    k->model = o->model;
    k->packing = o->packing;
    k->prompt = o->prompt;
    k->gen = o->generate;
    k->reps = o->repeat;
    k->json = o->json;
    if (o->threads != 1 || o->simd_path != "best") throw mmfree::Error("bench: --threads and --simd-path need --backend simd");
    bench_kokkos(*k);
#endif
  });
}

}  // namespace mmfree_cli
