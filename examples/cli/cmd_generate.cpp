// SPDX-License-Identifier: MIT
// mmfree generate: prompt in, text out (streamed), then one stats line on stderr, llama.cpp style.
#include <chrono>
#include <thread>
#include <cstdio>
#include <random>

#include <unistd.h>

#include "common.hpp"

#ifndef MMFREE_MODELS_DIR
#define MMFREE_MODELS_DIR ""
#endif

namespace mmfree_cli {

namespace {

namespace fs = std::filesystem;

/// Directory of the running executable (Linux), or empty.
fs::path exe_dir() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p.parent_path();
}

/// The built-in model: models/kjv/model.mmfree of the source tree, else of an install
/// (<prefix>/share/mmfree/models next to <prefix>/bin/mmfree).
fs::path default_model(std::string& looked) {
  std::vector<fs::path> candidates;
  if (std::string(MMFREE_MODELS_DIR).size() > 0) candidates.push_back(fs::path(MMFREE_MODELS_DIR) / "kjv" / "model.mmfree");
  if (!exe_dir().empty()) candidates.push_back(exe_dir() / ".." / "share" / "mmfree" / "models" / "kjv" / "model.mmfree");
  std::error_code ec;
  for (const auto& c : candidates) {
    if (fs::exists(c, ec)) return c;
    looked += (looked.empty() ? "" : ", ") + c.lexically_normal().string();
  }
  return {};
}

/// The tokenizer beside a model: in a checkpoint directory, or in the directory of a packed file.
fs::path default_tokenizer(const fs::path& model) {
  std::error_code ec;
  const fs::path dir = fs::is_directory(model, ec) ? model : model.parent_path();
  for (const char* name : {"tokenizer.model", "tokenizer.json"})
    if (fs::exists(dir / name, ec)) return dir / name;
  throw mmfree::Error("no tokenizer given (-t) and no tokenizer.model or tokenizer.json beside the model in '" +
                      dir.string() + "'");
}

}  // namespace

void register_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout, stats on stderr)");
  struct Opts {
    std::string model, tokenizer, prompt, backend = default_backend, packing = "auto", act = "int8";
    std::string simd_path = "best";
    int threads = 0;
    index_t n = 128;
    float temp = 0.8f, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.0f;
    index_t top_k = 40, repeat_last_n = 64;
    long long seed = -1;
    bool no_bos = false, ignore_eos = false, no_echo = false;
    std::vector<std::string> stop;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model,
                  "Checkpoint directory or packed .mmfree file (default: the built-in models/kjv/model.mmfree)");
  cmd->add_option("-t,--tokenizer", o->tokenizer,
                  "tokenizer.model / tokenizer.json / directory (default: the one beside the model)");
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", o->n, "Tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", o->temp, "Temperature (0: greedy)");
  cmd->add_option("--top-k", o->top_k, "Top-k (0: off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", o->top_p, "Top-p (1: off)");
  cmd->add_option("--min-p", o->min_p, "Min-p (0: off)");
  cmd->add_option("--repeat-penalty", o->repeat_penalty, "Repetition penalty (1: off)");
  cmd->add_option("--repeat-last-n", o->repeat_last_n, "Tokens the repetition penalty looks back")->check(CLI::NonNegativeNumber);
  cmd->add_option("-s,--seed", o->seed, "Random seed (-1: from the clock; the seed is printed)");
  cmd->add_option("--stop", o->stop, "Stop when the text contains this string (repeatable)");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after the end-of-sequence token");
  cmd->add_flag("--no-bos", o->no_bos, "Do not put BOS before the prompt");
  cmd->add_flag("--no-echo", o->no_echo, "Do not print the prompt before the generated text");
  cmd->add_option("--backend", o->backend, "Backend")->check(CLI::IsMember(backend_names));
  cmd->add_option("--packing", o->packing, "Weight packing in memory (auto: a packed file's own, else i2)")
      ->check(CLI::IsMember(packing_choices));
  cmd->add_option("--act", o->act, "Activation precision")->check(CLI::IsMember(act_names));
  cmd->add_option("--threads", o->threads, "Threads (backend simd; 0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--simd-path", o->simd_path, "SIMD kernels (backend simd): best, scalar, avx2, avx_vnni, avx512bw, "
                  "avx512_vnni, neon, neon_dotprod");
  add_no_verify(cmd);
  cmd->callback([o] {
    if (o->model.empty()) {
      std::string looked;
      const fs::path m = default_model(looked);
      if (m.empty())
        throw mmfree::Error("no model given (-m) and the built-in model is missing (looked for " + looked +
                            "); pass -m CHECKPOINT_DIR_OR_FILE");
      o->model = m.string();
    }
    const auto t_load = std::chrono::steady_clock::now();
    const auto tok = mmfree::text::Tokenizer::load(o->tokenizer.empty() ? default_tokenizer(o->model) : fs::path(o->tokenizer));
    std::uint64_t seed = o->seed >= 0 ? std::uint64_t(o->seed)
                                      : std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
    with_policy(o->backend, resolve_packing(o->model, o->packing), o->act, [&]<class Pol>(Pol) {
      mmfree::Model<Pol> model(load_weights<typename Pol::packing>(o->model));
      const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
      const int threads = o->threads > 0 ? o->threads
                          : mmfree_cli::is_simd<typename Pol::backend>() ? int(std::max(1u, std::thread::hardware_concurrency()))
                                                                          : 1;
      mmfree::Session<Pol> session(model, {.batch = 1, .max_chunk = 64}, &tok,
                                   make_context<typename Pol::backend>(threads, o->simd_path));
      mmfree::SequenceOptions so;
      so.sampling = {.temperature = o->temp,
                     .top_k = o->top_k,
                     .top_p = o->top_p,
                     .min_p = o->min_p,
                     .repeat_penalty = o->repeat_penalty,
                     .repeat_last_n = o->repeat_last_n,
                     .seed = seed};
      so.max_tokens = o->n;
      so.stop_at_eos = !o->ignore_eos;
      so.stop = o->stop;
      session.configure(0, std::move(so));

      const auto prompt_ids = tok.encode(o->prompt, !o->no_bos && tok.bos_id() >= 0);
      if (prompt_ids.empty()) throw mmfree::Error("the prompt is empty (and --no-bos leaves no token to start from)");
      if (!o->no_echo) {
        std::fwrite(o->prompt.data(), 1, o->prompt.size(), stdout);
        std::fflush(stdout);
      }
      const auto t0 = std::chrono::steady_clock::now();
      session.prefill(0, prompt_ids);
      const auto t1 = std::chrono::steady_clock::now();
      index_t produced = 0;
      if (o->n > 0)
        produced = session.generate(o->n, [&](index_t, std::int32_t, std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
        });
      const auto t2 = std::chrono::steady_clock::now();
      std::fputc('\n', stdout);
      std::fflush(stdout);
      // The prompt's last token is consumed by the first generation step (it yields the first
      // new token), so prefill processed prompt_ids.size() - 1 tokens.
      const double pp_s = std::chrono::duration<double>(t1 - t0).count();
      const double tg_s = std::chrono::duration<double>(t2 - t1).count();
      const auto pp_n = double(prompt_ids.size() - 1);
      const char* why = "";
      switch (session.finish_reason(0)) {
        case mmfree::FinishReason::eos: why = "eos"; break;
        case mmfree::FinishReason::stop_string: why = "stop string"; break;
        case mmfree::FinishReason::max_tokens: why = "max tokens"; break;
        case mmfree::FinishReason::none: why = "none"; break;
      }
      std::fprintf(stderr,
                   "[mmfree] load %.3f s | prompt %zu tok, %.2f tok/s | generation %lld tok, %.2f tok/s | "
                   "peak memory %.1f MB (VmHWM) | seed %llu | stop: %s\n",
                   load_s, prompt_ids.size(), pp_n > 0 && pp_s > 0 ? pp_n / pp_s : 0.0, (long long)produced,
                   produced > 0 && tg_s > 0 ? double(produced) / tg_s : 0.0, double(peak_rss_bytes()) / 1e6,
                   (unsigned long long)seed, why);
    });
  });
}

}  // namespace mmfree_cli
