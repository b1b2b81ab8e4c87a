// SPDX-License-Identifier: MIT
// mmfree train: train (or fine-tune) an hgrn_bit model on a text file with the straight-through
// estimator, AdamW and the paper's schedule; checkpoints in the Hugging Face layout, a loss
// curve, held-out perplexity against a unigram baseline. `--check-grads` writes the loss and
// every parameter gradient of one batch, for comparison with upstream PyTorch.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <mmfree/text/tokenizer.hpp>
#include <mmfree/train.hpp>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace mmfree_cli {

namespace {

namespace fs = std::filesystem;
namespace tr = mmfree::train;
using Clock = std::chrono::steady_clock;

struct TrainArgs {
  // data
  std::string data, tokenizer, data_ids;
  double valid_fraction = 0.02;
  std::int32_t bos = -2;  // -2: the tokenizer's (or 1); -1: none
  // model
  std::string model;
  index_t vocab = 0, hidden = 256, layers = 4, intermediate = 0;
  float init_std = 0.02f;
  std::uint64_t seed = 1;
  // training
  index_t steps = 1000, batch = 16, seq_len = 128, warmup = 100;
  float lr = 1.5e-3f, min_lr_ratio = 0.1f, halve_at = 0.5f, halve_factor = 0.5f;
  float weight_decay = 0.1f, late_weight_decay = -1.0f, beta1 = 0.9f, beta2 = 0.95f;
  double clip = 1.0;
  int threads = 0;
  // output
  std::string out;
  index_t save_every = 200, eval_every = 200, eval_windows = 0, log_every = 10;
  bool resume = false, no_progress = false;
  // gradient check
  std::string ids, check_grads;
};

/// One document per non-empty line: ids separated by spaces or commas (spm_encode --output_format=id).
std::vector<std::vector<std::int32_t>> read_id_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw mmfree::Error("cannot open '" + path + "'");
  std::vector<std::vector<std::int32_t>> docs;
  std::string line;
  index_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    for (char& c : line)
      if (c == ',') c = ' ';
    std::istringstream ls(line);
    std::vector<std::int32_t> d;
    std::string tok;
    while (ls >> tok) {
      std::size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(tok, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != tok.size() || v < 0 || v > INT32_MAX)
        throw mmfree::Error("'" + path + "' line " + std::to_string(lineno) + ": '" + tok + "' is not a token id");
      d.push_back(std::int32_t(v));
    }
    if (!d.empty()) docs.push_back(std::move(d));
  }
  if (in.bad()) throw mmfree::Error("cannot read '" + path + "'");
  return docs;
}

std::vector<std::string> read_text_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mmfree::Error("cannot open '" + path + "'");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
  }
  if (in.bad()) throw mmfree::Error("cannot read '" + path + "'");
  return lines;
}

/// Peak resident memory of this process, bytes.
double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) * 1024.0;
}

std::string fmt_duration(double s) {
  char b[32];
  const long t = long(s);
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  return b;
}

/// `mmfree train -m DIR --ids ... --check-grads OUT`: loss and every gradient of one batch with
/// labels = ids (upstream's convention: position t predicts ids[t + 1], the last is ignored).
void check_grads(const TrainArgs& a) {
  if (a.model.empty() || a.ids.empty())
    throw mmfree::Error("--check-grads needs -m DIR (a checkpoint directory) and --ids");
  index_t batch = 0;
  const auto ids = parse_ids(a.ids, batch);
  const auto ck = mmfree::io::Checkpoint::open(a.model);
  tr::ThreadPool pool(a.threads > 0 ? a.threads : 1);
  tr::Network net(ck.config(), pool);
  const auto& L = net.layout();
  tr::ParamBuffer params(L), grads(L);
  tr::load_parameters(L, ck, params);
  const auto targets = tr::shifted_targets(ids, batch);
  const tr::LossSum loss = net.forward_backward(params.data(), ids, targets, batch, grads.data());
  const float l = float(loss.mean());
  auto tensors = tr::parameter_tensors(L, grads.data(), "grad.");
  const mmfree::io::TensorToWrite loss_tensor{"loss", mmfree::DType::F32, {1}, &l, index_t(sizeof(float))};
  tensors.insert(tensors.begin(), loss_tensor);
  mmfree::io::write_safetensors(a.check_grads, tensors);
  std::printf("loss %.6f over %lld positions; wrote loss and %zu gradients to %s\n", double(l),
              (long long)loss.count, tensors.size() - 1, a.check_grads.c_str());
}

/// Documents -> one stream per split, each document as [bos] + ids.
struct Streams {
  std::vector<std::int32_t> train, valid;
  index_t docs_train = 0, docs_valid = 0;
};

void train_run(const TrainArgs& a) {
  if (a.out.empty()) throw mmfree::Error("training needs -o/--out DIR");
  if (a.data.empty() == a.data_ids.empty()) throw mmfree::Error("give exactly one of --data (text) and --data-ids");
  if (!a.data.empty() && a.tokenizer.empty()) throw mmfree::Error("--data needs --tokenizer (tokenizer.model or .json)");
  const fs::path out(a.out), ckdir = out / "checkpoint";
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw mmfree::Error("cannot create '" + out.string() + "': " + ec.message());
  const bool resuming = a.resume && fs::exists(ckdir / "config.json", ec);

  // ---- data
  const auto t_data = Clock::now();
  std::vector<std::vector<std::int32_t>> docs;
  std::int32_t bos = a.bos == -2 ? 1 : a.bos;
  index_t tok_vocab = 0;
  if (!a.data.empty()) {
    const auto tok = mmfree::text::Tokenizer::load(a.tokenizer);
    if (a.bos == -2) bos = tok.bos_id();
    tok_vocab = tok.vocab_size();
    for (const auto& line : read_text_lines(a.data)) docs.push_back(tok.encode(line, false));
  } else {
    docs = read_id_lines(a.data_ids);
  }
  Streams s;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    const bool held = tr::is_held_out(index_t(d), a.valid_fraction);
    auto& dst = held ? s.valid : s.train;
    (held ? s.docs_valid : s.docs_train) += 1;
    if (bos >= 0) dst.push_back(bos);
    dst.insert(dst.end(), docs[d].begin(), docs[d].end());
  }
  docs.clear();
  std::int32_t max_id = 0;
  for (auto v : s.train) max_id = std::max(max_id, v);
  for (auto v : s.valid) max_id = std::max(max_id, v);

  // ---- model
  mmfree::ModelConfig cfg;
  if (resuming) {
    cfg = mmfree::io::Checkpoint::open(ckdir).config();
  } else if (!a.model.empty()) {
    cfg = mmfree::io::Checkpoint::open(a.model).config();
  } else {
    cfg.vocab_size = a.vocab > 0 ? a.vocab : tok_vocab;
    if (cfg.vocab_size <= 0) throw mmfree::Error("--data-ids needs --vocab (or -m DIR)");
    cfg.hidden_size = a.hidden;
    cfg.num_layers = a.layers;
    cfg.intermediate_size = a.intermediate > 0 ? a.intermediate : mmfree::ModelConfig::default_intermediate(a.hidden, 4.0);
    if (bos >= 0) cfg.bos_token_id = bos;
  }
  if (max_id >= cfg.vocab_size)
    throw mmfree::Error("the data holds token id " + std::to_string(max_id) + " but the model's vocabulary has " +
                        std::to_string(cfg.vocab_size) + " entries");

  const int threads = a.threads > 0 ? a.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  tr::ThreadPool pool(threads);
  tr::Network net(cfg, pool);
  const auto& L = net.layout();
  tr::ParamBuffer params(L);
  if (!a.model.empty() && !resuming)
    tr::load_parameters(L, mmfree::io::Checkpoint::open(a.model), params);
  else
    tr::init_parameters(L, params, a.seed, {.std = a.init_std});

  tr::TrainOptions o;
  o.batch = a.batch;
  o.seq_len = a.seq_len;
  o.schedule = {a.lr, a.warmup, a.steps, a.min_lr_ratio, a.halve_at, a.halve_factor};
  o.adam = {a.beta1, a.beta2, 1e-8f, a.weight_decay};
  o.clip = a.clip;
  o.late_weight_decay = a.late_weight_decay;
  o.seed = a.seed * 0x9e3779b97f4a7c15ull + 17;
  tr::Trainer trainer(net, params, s.train, o);
  const nlohmann::json run = {{"data", a.data.empty() ? a.data_ids : a.data},
                              {"train_tokens", s.train.size()},
                              {"valid_tokens", s.valid.size()},
                              {"steps", a.steps},
                              {"batch", a.batch},
                              {"seq_len", a.seq_len},
                              {"lr", a.lr},
                              {"seed", a.seed}};
  if (resuming) {
    const auto saved = trainer.resume(ckdir);
    if (saved.value("train_tokens", std::size_t(0)) != s.train.size())
      std::fprintf(stderr, "warning: resuming on data of another size than the saved run's\n");
  }
  const double data_s = std::chrono::duration<double>(Clock::now() - t_data).count();
  std::fprintf(stderr,
               "model: V=%lld H=%lld L=%lld I=%lld, %.2f M parameters (%.2f M ternary); %d threads\n"
               "data: %zu training tokens (%lld documents), %zu held-out tokens (%lld documents), %.1f s to load\n",
               (long long)cfg.vocab_size, (long long)cfg.hidden_size, (long long)cfg.num_layers,
               (long long)cfg.intermediate_size, cfg.total_params() / 1e6, cfg.ternary_params() / 1e6, threads,
               s.train.size(), (long long)s.docs_train, s.valid.size(), (long long)s.docs_valid, data_s);
  if (resuming) std::fprintf(stderr, "resuming %s at step %lld\n", ckdir.c_str(), (long long)trainer.steps_done());

  const index_t eval_batch = std::max<index_t>(a.batch, 8);
  const bool have_valid = s.valid.size() > std::size_t(a.seq_len);
  const double unigram =
      have_valid ? tr::unigram_perplexity(s.train, s.valid, cfg.vocab_size, a.seq_len, a.eval_windows) : 0.0;
  auto evaluate = [&]() -> tr::LossSum {
    if (!have_valid) return {};
    return tr::evaluate(net, params.data(), s.valid, eval_batch, a.seq_len, a.eval_windows);
  };

  // ---- loss curve
  const fs::path csv_path = out / "loss.csv";
  bool csv_exists = fs::exists(csv_path, ec);
  if (resuming && csv_exists) {  // drop rows of steps after the checkpoint: they are run again
    std::ifstream in(csv_path);
    std::string line, kept;
    while (std::getline(in, line)) {
      const long long step = std::atoll(line.c_str());
      if (kept.empty() || (step > 0 && step <= trainer.steps_done())) kept += line + "\n";
    }
    in.close();
    std::ofstream(csv_path, std::ios::trunc) << kept;
  }
  std::ofstream csv(csv_path, resuming && csv_exists ? std::ios::app : std::ios::trunc);
  if (!csv) throw mmfree::Error("cannot write '" + csv_path.string() + "'");
  if (!(resuming && csv_exists)) csv << "step,tokens,lr,loss,grad_norm,tokens_per_s,elapsed_s,valid_loss,valid_ppl\n";

  auto save = [&] {
    trainer.save(ckdir, run);
    if (!a.tokenizer.empty()) {  // the checkpoint carries its tokenizer (HF layout)
      const fs::path src(a.tokenizer);
      fs::copy_file(src, ckdir / (src.extension() == ".json" ? "tokenizer.json" : "tokenizer.model"),
                    fs::copy_options::overwrite_existing, ec);
    }
  };

  const bool tty = !a.no_progress && ::isatty(2);
  const auto t0 = Clock::now();
  double train_s = 0.0, tokens_run = 0.0, loss_avg = 0.0;
  index_t done_here = 0;
  tr::LossSum last_valid;
  while (trainer.steps_done() < a.steps) {
    const auto ts = Clock::now();
    const tr::StepResult r = trainer.step();
    train_s += std::chrono::duration<double>(Clock::now() - ts).count();
    tokens_run += double(r.tokens);
    ++done_here;
    loss_avg = done_here == 1 ? r.loss : 0.95 * loss_avg + 0.05 * r.loss;
    const index_t step = trainer.steps_done();
    const double tps = tokens_run / std::max(train_s, 1e-9);
    std::string vl, vp;
    const bool last = step == a.steps;
    if (have_valid && a.eval_every > 0 && (step % a.eval_every == 0 || last)) {
      last_valid = evaluate();
      char b[64];
      std::snprintf(b, sizeof b, "%.5f", last_valid.mean());
      vl = b;
      std::snprintf(b, sizeof b, "%.3f", std::exp(last_valid.mean()));
      vp = b;
    }
    csv << step << ',' << std::llround(trainer.tokens_seen()) << ',' << r.lr << ',' << r.loss << ',' << r.grad_norm
        << ',' << tps << ',' << std::chrono::duration<double>(Clock::now() - t0).count() << ',' << vl << ',' << vp
        << '\n';
    csv.flush();
    if (!a.no_progress && (tty || step % a.log_every == 0 || last || !vl.empty())) {
      const double frac = double(step) / double(a.steps);
      const int width = 24, fill = int(frac * width);
      const double eta = double(a.steps - step) * (train_s / double(done_here));
      std::fprintf(stderr, "%s[%.*s%.*s] step %lld/%lld loss %.4f (avg %.4f) lr %.2e %.0f tok/s eta %s%s%s%s",
                   tty ? "\r" : "", fill, "########################", width - fill, "........................",
                   (long long)step, (long long)a.steps, r.loss, loss_avg, double(r.lr), tps, fmt_duration(eta).c_str(),
                   vl.empty() ? "" : " | held-out loss ", vl.c_str(), vl.empty() ? "" : (" ppl " + vp).c_str());
      if (!tty || !vl.empty() || last) std::fputc('\n', stderr);
      std::fflush(stderr);
    }
    if ((a.save_every > 0 && step % a.save_every == 0) || last) save();
  }

  // ---- summary
  const double bytes_per_token = double(net.activation_bytes()) / double(a.batch * a.seq_len);
  nlohmann::ordered_json sum;
  sum["steps"] = trainer.steps_done();
  sum["tokens_seen"] = trainer.tokens_seen();
  sum["train_tokens"] = s.train.size();
  sum["valid_tokens"] = s.valid.size();
  sum["params_total"] = cfg.total_params();
  sum["params_ternary"] = cfg.ternary_params();
  sum["threads"] = threads;
  sum["tokens_per_s"] = tokens_run / std::max(train_s, 1e-9);
  if (have_valid) {
    if (last_valid.count == 0) last_valid = evaluate();
    sum["valid_loss"] = last_valid.mean();
    sum["valid_ppl"] = std::exp(last_valid.mean());
    sum["valid_positions"] = last_valid.count;
    sum["unigram_ppl"] = unigram;
  }
  sum["peak_rss_bytes"] = peak_rss_bytes();
  sum["activation_bytes_per_token"] = bytes_per_token;
  sum["stored_floats_per_token"] = net.stored_floats_per_token();
  sum["checkpoint"] = ckdir.string();
  std::ofstream(out / "summary.json") << sum.dump(2) << "\n";
  if (have_valid)
    std::fprintf(stderr, "held-out: loss %.4f, perplexity %.3f (unigram baseline %.3f) over %lld positions\n",
                 last_valid.mean(), std::exp(last_valid.mean()), unigram, (long long)last_valid.count);
  std::fprintf(stderr,
               "memory: peak RSS %.1f MiB; activations + backward scratch %.1f KiB per token of context "
               "(%lld stored floats per token)\n",
               peak_rss_bytes() / 1048576.0, bytes_per_token / 1024.0, (long long)net.stored_floats_per_token());
  std::fprintf(stderr, "checkpoint: %s (loss curve %s)\n", ckdir.c_str(), csv_path.c_str());
}

}  // namespace

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train or fine-tune a model (straight-through estimator, AdamW)");
  auto a = std::make_shared<TrainArgs>();
  cmd->add_option("--data", a->data, "Training text, one document per line (e.g. one verse)")->group("Data");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.model or tokenizer.json for --data")->group("Data");
  cmd->add_option("--data-ids", a->data_ids, "Pre-tokenised data: one document per line, ids separated by spaces")
      ->group("Data");
  cmd->add_option("--valid-fraction", a->valid_fraction, "Share of documents held out (interleaved blocks of 50)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.5))
      ->group("Data");
  cmd->add_option("--bos", a->bos, "Id put before every document (default: the tokenizer's BOS, else 1; -1: none)")
      ->group("Data");
  cmd->add_option("-m,--model", a->model, "Start from this checkpoint directory (HF layout) instead of a new model")
      ->group("Model");
  cmd->add_option("--vocab", a->vocab, "Vocabulary size (default: the tokenizer's)")->group("Model");
  cmd->add_option("--hidden", a->hidden, "Hidden size H")->capture_default_str()->group("Model");
  cmd->add_option("--layers", a->layers, "Layers L")->capture_default_str()->group("Model");
  cmd->add_option("--intermediate", a->intermediate, "GLU width I (default: 256 * ceil(8H/3 / 256))")->group("Model");
  cmd->add_option("--init-std", a->init_std, "Std of the initial weights")->capture_default_str()->group("Model");
  cmd->add_option("--seed", a->seed, "Seed of the initialisation and the data order")->capture_default_str()->group("Model");
  cmd->add_option("--steps", a->steps, "Optimizer steps")->capture_default_str()->check(CLI::PositiveNumber)->group("Training");
  cmd->add_option("--batch", a->batch, "Sequences per step")->capture_default_str()->check(CLI::PositiveNumber)->group("Training");
  cmd->add_option("--seq-len", a->seq_len, "Tokens per sequence")->capture_default_str()->check(CLI::PositiveNumber)->group("Training");
  cmd->add_option("--lr", a->lr, "Peak learning rate")->capture_default_str()->group("Training");
  cmd->add_option("--warmup", a->warmup, "Warm-up steps")->capture_default_str()->group("Training");
  cmd->add_option("--min-lr-ratio", a->min_lr_ratio, "End of the cosine, as a fraction of --lr")->capture_default_str()->group("Training");
  cmd->add_option("--halve-at", a->halve_at, "Fraction of the run where the rate is multiplied by --halve-factor (0: never)")
      ->capture_default_str()
      ->group("Training");
  cmd->add_option("--halve-factor", a->halve_factor, "Factor applied from --halve-at on")->capture_default_str()->group("Training");
  cmd->add_option("--weight-decay", a->weight_decay, "AdamW weight decay (matrices and embeddings)")->capture_default_str()->group("Training");
  cmd->add_option("--late-weight-decay", a->late_weight_decay, "Weight decay from --halve-at on (default: unchanged)")->group("Training");
  cmd->add_option("--beta1", a->beta1, "AdamW beta1")->capture_default_str()->group("Training");
  cmd->add_option("--beta2", a->beta2, "AdamW beta2")->capture_default_str()->group("Training");
  cmd->add_option("--clip", a->clip, "Gradient-norm limit (0: none)")->capture_default_str()->group("Training");
  cmd->add_option("-t,--threads", a->threads, "Threads (default: all cores; results are deterministic per count)")->group("Training");
  cmd->add_option("-o,--out", a->out, "Output directory: checkpoint/, loss.csv, summary.json")->group("Output");
  cmd->add_option("--save-every", a->save_every, "Steps between checkpoints")->capture_default_str()->group("Output");
  cmd->add_option("--eval-every", a->eval_every, "Steps between held-out evaluations")->capture_default_str()->group("Output");
  cmd->add_option("--eval-windows", a->eval_windows, "Held-out windows evaluated (0: all)")->capture_default_str()->group("Output");
  cmd->add_option("--log-every", a->log_every, "Steps between progress lines when stderr is not a terminal")->capture_default_str()->group("Output");
  cmd->add_flag("--resume", a->resume, "Continue from OUT/checkpoint when it exists")->group("Output");
  cmd->add_flag("--no-progress", a->no_progress, "No progress output")->group("Output");
  cmd->add_option("--ids", a->ids, "With --check-grads: token ids, rows separated by ';'")->group("Gradient check");
  cmd->add_option("--check-grads", a->check_grads, "Write loss and grad.<name> of one batch (labels = ids) to this file")
      ->group("Gradient check");
  cmd->callback([a] {
    if (!a->check_grads.empty())
      check_grads(*a);
    else
      train_run(*a);
  });
}

}  // namespace mmfree_cli
