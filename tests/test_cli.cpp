// SPDX-License-Identifier: MIT
// The mmfree command-line tool end to end: parity output files and clean failures.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cctype>
#include <fstream>
#include <set>

#include <sys/wait.h>
#include <string>

#include <mmfree/mmfree.hpp>
#include <nlohmann/json.hpp>

#include "support/catch.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/random_checkpoint.hpp"

#ifndef MMFREE_CLI
#error "MMFREE_CLI must name the mmfree executable"
#endif

using namespace mmfree;
using namespace mmfree_test;
namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string output;  // stdout + stderr
};

Result run_cli(const std::string& args) {
  TempDir tmp("cli-out");
  const fs::path log = tmp.path / "log.txt";
  const std::string cmd = std::string("\"") + MMFREE_CLI + "\" " + args + " > \"" + log.string() + "\" 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream in(log);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string golden_ids_arg() {
  auto e = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
  const auto ids = ids_of(e);
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s += (i % 16 == 0) ? ";" : ",";
    s += std::to_string(ids[i]);
  }
  return s;
}

}  // namespace

TEST_CASE("mmfree logits reproduces upstream's logits in both modes", "[cli]") {
  TempDir tmp("cli");
  const auto model = (golden_dir() / "tiny-a" / "model").string();
  auto e = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
  const auto want = as_f32(e.get("logits"));
  for (const char* mode : {"prefill", "step"}) {
    const fs::path out = tmp.path / (std::string(mode) + ".safetensors");
    const auto r = run_cli("logits -m \"" + model + "\" --ids \"" + golden_ids_arg() + "\" --mode " + mode + " -o \"" +
                           out.string() + "\"");
    INFO(r.output);
    REQUIRE(r.code == 0);
    auto st = io::SafetensorsFile::open(out);
    const auto& t = st.get("logits");
    CHECK(t.shape == std::vector<index_t>{2, 16, 256});
    const auto got = as_f32(t);
    CHECK(mean_rel(got, want) <= 4e-3);
    CHECK(argmax_agreement(got, want, 256) == 1.0);
  }
}

#if MMFREE_CLI_HAS_KOKKOS
TEST_CASE("mmfree logits --backend kokkos writes serial's logits, bit for bit", "[cli][kokkos]") {
  TempDir tmp("cli-kokkos");
  const auto model = (golden_dir() / "tiny-a" / "model").string();
  for (const char* mode : {"prefill", "step"}) {
    std::string files[2];
    for (int k = 0; k < 2; ++k) {
      const char* backend = k == 0 ? "serial" : "kokkos";
      files[k] = (tmp.path / (std::string(backend) + mode + ".safetensors")).string();
      const auto r = run_cli("logits -m \"" + model + "\" --ids \"" + golden_ids_arg() + "\" --mode " + mode +
                             " --backend " + backend + " -o \"" + files[k] + "\"");
      INFO(r.output);
      REQUIRE(r.code == 0);
    }
    std::ifstream a(files[0], std::ios::binary), b(files[1], std::ios::binary);
    const std::string sa((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
    const std::string sb((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
    CHECK(sa.size() > 16 * 256 * 4);
    CHECK(sa == sb);
  }
  const auto r = run_cli("logits -m \"" + model + "\" --ids 1,2 --backend kokkos --act fq32 -o \"" +
                         (tmp.path / "x.safetensors").string() + "\"");
  CHECK(r.code != 0);
  CHECK(r.output.find("int8 only") != std::string::npos);
}
#endif

TEST_CASE("mmfree info describes a checkpoint", "[cli]") {
  const auto r = run_cli("info --json -m \"" + (golden_dir() / "tiny-a" / "model").string() + "\"");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(r.output.find("\"hidden_size\":64") != std::string::npos);
  CHECK(r.output.find("\"params_total\":") != std::string::npos);
}

TEST_CASE("mmfree fails cleanly on bad input", "[cli][errors]") {
  TempDir tmp("clibad");
  const auto model = (golden_dir() / "tiny-a" / "model").string();
  const auto out = (tmp.path / "x.safetensors").string();
  auto fails_with = [&](const std::string& args, const std::string& needle) {
    const auto r = run_cli(args);
    INFO(args << "\n" << r.output);
    CHECK(r.code != 0);
    CHECK(r.output.find(needle) != std::string::npos);
  };
  fails_with("logits -m \"" + model + "\" --ids \"1,2,256\" -o " + out, "token id 256");
  fails_with("logits -m \"" + model + "\" --ids \"1,2;3\" -o " + out, "equal length");
  fails_with("logits -m \"" + model + "\" --ids \"1,x\" -o " + out, "'x' is not an integer");
  fails_with("logits -m \"" + model + "\" --ids \"1,,2\" -o " + out, "empty token");
  fails_with("logits -m /nonexistent --ids 1 -o " + out, "does not exist");
  fails_with("logits -m \"" + model + "\" --ids 1 --packing q4 -o " + out, "packing");
  TempDir bad("clitrunc");
  write_random_checkpoint(bad.path, odd_config(64, 32, 2, 64));
  fs::resize_file(bad.path / "model.safetensors", 1000);
  fails_with("info -m \"" + bad.path.string() + "\"", "model.safetensors");
  fails_with("logits -m \"" + bad.path.string() + "\" --ids 1 -o " + out, "truncated");
}

namespace {

/// The argument quoted for sh: '...' with every ' written as '\''.
std::string sh_quote(const std::string& s) {
  std::string q(1, '\'');
  for (char c : s) {
    if (c == '\'') q.append("'\\''");
    else q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

std::string cli_ids(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(ids[i]));
  }
  return s;
}

}  // namespace

TEST_CASE("mmfree tokenize / detokenize reproduce every golden case with all three tokenizer files", "[cli][text]") {
  const fs::path tdir = golden_dir() / "tokenizer";
  std::ifstream in(tdir / "cases.json");
  const auto cases = nlohmann::json::parse(in);
  const std::pair<const char*, fs::path> files[] = {{"sp", tdir / "tokenizer.model"},
                                                    {"json_legacy", tdir / "json_legacy" / "tokenizer.json"},
                                                    {"json_modern", tdir / "json_modern"}};
  for (const auto& [key, path] : files) {
    for (const auto& c : cases["cases"]) {
      const std::string text = c["text"];
      const auto want = c[std::string(key) + "_ids"].get<std::vector<std::int32_t>>();
      INFO(key << ": " << text);
      const auto r = run_cli("tokenize -t " + sh_quote(path.string()) + " --text " + sh_quote(text));
      REQUIRE(r.code == 0);
      CHECK(nlohmann::json::parse(r.output).get<std::vector<std::int32_t>>() == want);
      const auto d = run_cli("detokenize -t " + sh_quote(path.string()) + " --ids " + sh_quote(cli_ids(want)));
      REQUIRE(d.code == 0);
      CHECK(d.output == c[std::string(key) + "_decoded"].get<std::string>());
    }
    const auto b = run_cli("tokenize --bos -t " + sh_quote(path.string()) + " --text Hello");
    CHECK(b.output.rfind("[1, ", 0) == 0);
  }
  const auto bad = run_cli("detokenize -t " + sh_quote((tdir / "tokenizer.model").string()) + " --ids 1,99999");
  CHECK(bad.code != 0);
  CHECK(bad.output.find("out of range") != std::string::npos);
}

TEST_CASE("mmfree convert: the packed file gives exactly the checkpoint's logits", "[cli][model_file]") {
  TempDir tmp("cliconv");
  write_random_checkpoint(tmp.path / "ck", odd_config(131, 48, 2, 80), DType::BF16);
  const auto ck = sh_quote((tmp.path / "ck").string());
  for (const char* packing : {"i2", "tq1"}) {
    const auto file = sh_quote((tmp.path / (std::string(packing) + ".mmfree")).string());
    const auto c = run_cli("convert -m " + ck + " -o " + file + " --packing " + packing);
    INFO(c.output);
    REQUIRE(c.code == 0);
    CHECK(c.output.find("100%") != std::string::npos);  // the progress bar
    const auto a = run_cli("logits -m " + ck + " --ids '1,2,3;4,5,6' -o " + sh_quote((tmp.path / "a.safetensors").string()));
    const auto b = run_cli("logits -m " + file + " --ids '1,2,3;4,5,6' -o " + sh_quote((tmp.path / "b.safetensors").string()));
    REQUIRE(a.code == 0);
    REQUIRE(b.code == 0);
    auto sa = io::SafetensorsFile::open(tmp.path / "a.safetensors");
    auto sb = io::SafetensorsFile::open(tmp.path / "b.safetensors");
    CHECK(as_f32(sa.get("logits")) == as_f32(sb.get("logits")));
    const auto info = run_cli("info --json -m " + file);
    CHECK(info.output.find(std::string("\"packing\":\"") + packing + "\"") != std::string::npos);
  }
  // corrupted file: a clear error
  fs::resize_file(tmp.path / "i2.mmfree", fs::file_size(tmp.path / "i2.mmfree") - 10);
  const auto t = run_cli("logits -m " + sh_quote((tmp.path / "i2.mmfree").string()) + " --ids 1 -o x.safetensors");
  CHECK(t.code != 0);
  CHECK(t.output.find("truncated") != std::string::npos);
}

/// Packed bytes of every ternary matrix of `c` with packing P (what `mmfree bench` reports).
template <class P>
index_t packed_model_bytes(const ModelConfig& c) {
  const index_t H = c.hidden_size, I = c.intermediate_size;
  return c.num_layers * (4 * H * packed_row_bytes<P>(H) + 2 * I * packed_row_bytes<P>(H) + H * packed_row_bytes<P>(I)) +
         c.vocab_size * packed_row_bytes<P>(H);
}

TEST_CASE("mmfree bench -m runs a checkpoint or a packed file", "[cli][bench]") {
  TempDir tmp("clibench");
  const auto dir = golden_dir() / "tiny-a" / "model";
  const auto cfg = load_checkpoint<packing::I2>(dir).index.config;
  const auto ck = sh_quote(dir.string()), file = sh_quote((tmp.path / "m.mmfree").string());
  REQUIRE(run_cli("convert -m " + ck + " -o " + file + " --packing i2").code == 0);
  struct Case {
    std::string model, args;
    index_t bytes;
  };
  const std::vector<Case> cases = {
      {ck, "--backend serial", packed_model_bytes<packing::I2>(cfg)},
      {file, "", packed_model_bytes<packing::I2>(cfg)},  // default backend (simd where built)
      {file, "--packing tq1", packed_model_bytes<packing::TQ1>(cfg)},  // repacked from the file's i2
      {ck, "--packing i8", packed_model_bytes<packing::I8>(cfg)},
  };
  for (const auto& c : cases) {
    const auto r = run_cli("bench -m " + c.model + " " + c.args + " --pp 6 --tg 5 --repeat 1 --json");
    INFO(c.model << " " << c.args << "\n" << r.output);
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.output);
    CHECK(j["shape"].is_null());
    CHECK(j["model"] == c.model.substr(1, c.model.size() - 2));  // without the quotes
    CHECK(j["packed_bytes_per_token"] == c.bytes);
    CHECK(j["prompt_tokens"] == 6);
    CHECK(j["decode_tokens"] == 5);
    for (const char* k : {"prefill_tok_s", "decode_tok_s", "read_bandwidth_gbps", "bandwidth_fraction"}) {
      INFO(k);
      CHECK(j[k].get<double>() > 0.0);
    }
  }
  // the text report names the model
  const auto t = run_cli("bench -m " + ck + " --backend serial --pp 2 --tg 2 --repeat 1");
  INFO(t.output);
  CHECK(t.code == 0);
  CHECK(t.output.find("mmfree bench: model " + dir.string() + " (L=2") != std::string::npos);
  // either a shape or a model; a missing model is named
  const auto both = run_cli("bench -m " + ck + " --shape 370m --json");
  CHECK(both.code != 0);
  CHECK(both.output.find("excludes") != std::string::npos);
  const auto none = run_cli("bench -m /nonexistent --json");
  CHECK(none.code != 0);
  CHECK(none.output.find("'/nonexistent' does not exist") != std::string::npos);
}

TEST_CASE("mmfree generate streams text and ends with a stats line", "[cli][text]") {
  TempDir tmp("cligen");
  write_random_checkpoint(tmp.path / "ck", odd_config(3000, 32, 2, 64), DType::BF16);
  const auto file = sh_quote((tmp.path / "m.mmfree").string());
  REQUIRE(run_cli("convert -m " + sh_quote((tmp.path / "ck").string()) + " -o " + file).code == 0);
  const auto tok = sh_quote((golden_dir() / "tokenizer" / "tokenizer.model").string());
  const std::string args = "generate -m " + file + " -t " + tok + " -p 'In the beginning' -n 12 --seed 5 --temp 1.5";
  const auto a = run_cli(args);
  INFO(a.output);
  REQUIRE(a.code == 0);
  CHECK(a.output.rfind("In the beginning", 0) == 0);
  CHECK(a.output.find("generation 12 tok") != std::string::npos);
  CHECK(a.output.find("peak memory") != std::string::npos);
  const auto text = [](const std::string& o) { return o.substr(0, o.find("[mmfree]")); };
  CHECK(text(run_cli(args).output) == text(a.output));  // same seed, same text
  // a checkpoint directory works too (with the tokenizer given explicitly)
  CHECK(run_cli("generate -m " + sh_quote((tmp.path / "ck").string()) + " -t " + tok + " -p God -n 2").code == 0);
  // no tokenizer beside the model
  const auto nt = run_cli("generate -m " + file + " -p God -n 2");
  CHECK(nt.code != 0);
  CHECK(nt.output.find("no tokenizer") != std::string::npos);
}

TEST_CASE("mmfree generate without -m uses the built-in model or says it is missing", "[cli][text]") {
  const auto r = run_cli("generate -p 'In the beginning' -n 4 --temp 0");
  if (fs::exists(fs::path(MMFREE_MODELS_DIR) / "kjv" / "model.mmfree")) {
    INFO(r.output);
    CHECK(r.code == 0);
  } else {
    CHECK(r.code != 0);
    CHECK(r.output.find("built-in model is missing") != std::string::npos);
  }
}

#ifdef MMFREE_BIBLE
// The built-in model must write King-James-like English: at least 90% of the words of
// `generate -p "And God said" -n 80` occur in the King James text, for several seeds.
TEST_CASE("the built-in model writes King James English", "[cli][text]") {
  REQUIRE(fs::exists(fs::path(MMFREE_MODELS_DIR) / "kjv" / "model.mmfree"));
  auto words_of = [](const std::string& text) {
    std::vector<std::string> words;
    std::string w;
    for (const char ch : text + " ") {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalpha(c) != 0) {
        w += char(std::tolower(c));
      } else if (!w.empty()) {
        words.push_back(w);
        w.clear();
      }
    }
    return words;
  };
  TempDir tmp("kjv-vocab");
  const fs::path text = tmp.path / "kjv.txt";
  const std::string cmd = std::string("\"") + MMFREE_BIBLE + "\" -l100000 Gen1:1-Rev22:21 > \"" + text.string() + "\"";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(text);
  const std::string bible((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto all = words_of(bible);
  REQUIRE(all.size() > 700000);  // the whole book was printed
  const std::set<std::string> vocabulary(all.begin(), all.end());
  for (const int seed : {1, 2, 3}) {
    const auto r = run_cli("generate -p 'And God said' -n 80 --seed " + std::to_string(seed));
    INFO(r.output);
    REQUIRE(r.code == 0);
    const auto words = words_of(r.output.substr(0, r.output.find("[mmfree]")));  // without the stats line
    REQUIRE(words.size() >= 40);
    std::size_t known = 0;
    for (const auto& w : words) known += vocabulary.count(w);
    CHECK(double(known) >= 0.9 * double(words.size()));
  }
}
#endif

#if MMFREE_CLI_TRAIN
#include <mmfree/train.hpp>

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// ||a - b|| / ||b||
double l2_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("mmfree train --check-grads writes upstream's loss and gradients", "[cli][train]") {
  TempDir tmp("cligrads");
  const auto out = tmp.path / "grads.safetensors";
  const auto r = run_cli("train -m \"" + (golden_dir() / "tiny-a" / "model").string() + "\" --ids \"" +
                         golden_ids_arg() + "\" --check-grads \"" + out.string() + "\"");
  INFO(r.output);
  REQUIRE(r.code == 0);
  const auto got = io::SafetensorsFile::open(out);
  const auto ref = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "grads.safetensors");
  CHECK(std::fabs(got.get("loss").at(0) - ref.get("loss").at(0)) < 1e-4);
  std::size_t n = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("grad.", 0) != 0) continue;
    ++n;
    const auto& g = got.get(t.name);
    CHECK(g.shape == t.shape);
    INFO(t.name);
    CHECK(l2_rel(as_f32(g), as_f32(t)) < 1e-2);
  }
  CHECK(n == got.tensors().size() - 1);  // every parameter, nothing else but the loss

  // bf16 storage and an odd shape: the tool computes what the library computes from the same values
  TempDir bf("clibf16");
  const ModelConfig cfg = odd_config(61, 24, 2, 40);
  write_random_checkpoint(bf.path, cfg, DType::BF16);
  const auto out2 = tmp.path / "bf16.safetensors";
  const auto r2 = run_cli("train -m \"" + bf.path.string() + "\" --ids \"1,5,7,60,2;3,3,9,0,11\" --check-grads \"" +
                          out2.string() + "\"");
  INFO(r2.output);
  REQUIRE(r2.code == 0);
  train::ThreadPool pool(1);
  train::Network net(cfg, pool);
  train::ParamBuffer p(net.layout()), g(net.layout());
  train::load_parameters(net.layout(), io::Checkpoint::open(bf.path), p);
  const std::vector<std::int32_t> ids = {1, 5, 7, 60, 2, 3, 3, 9, 0, 11};
  const auto loss = net.forward_backward(p.data(), ids, train::shifted_targets(ids, 2), 2, g.data());
  const auto st = io::SafetensorsFile::open(out2);
  CHECK(st.get("loss").at(0) == float(loss.mean()));
  const auto& L = net.layout();
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const auto v = as_f32(st.get("grad." + L.tensors[k].name));
    CHECK(std::equal(v.begin(), v.end(), g.data() + L.offsets[k]));
  }
}

TEST_CASE("mmfree train: loss curve, held-out perplexity, checkpoints, resume", "[cli][train]") {
  TempDir tmp("clitrain");
  {  // 400 "documents" of a learnable pattern, ids as spm_encode --output_format=id writes them
    std::ofstream f(tmp.path / "data.ids");
    for (int d = 0; d < 400; ++d) {
      for (int i = 0; i < 9; ++i) f << (i ? " " : "") << 3 + (d % 4 + i * 7) % 26;
      f << "\n";
    }
  }
  const std::string common = "train --data-ids \"" + (tmp.path / "data.ids").string() +
                             "\" --vocab 29 --hidden 16 --layers 2 --intermediate 24 --batch 4 --seq-len 16 --lr 1e-2 "
                             "--warmup 3 --eval-every 10 --save-every 10 --threads 2 --valid-fraction 0.25 -o \"" +
                             (tmp.path / "run").string() + "\"";
  auto r = run_cli(common + " --steps 20");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("held-out: loss") != std::string::npos);
  CHECK(r.output.find("per token of context") != std::string::npos);
  const fs::path run = tmp.path / "run";
  auto csv = read_file(run / "loss.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 21);
  const auto sum = nlohmann::json::parse(read_file(run / "summary.json"));
  CHECK(sum.at("valid_ppl").get<double>() < sum.at("unigram_ppl").get<double>());
  CHECK(sum.at("activation_bytes_per_token").get<double>() > 0);
  // the checkpoint is an ordinary HF checkpoint for the inference model
  using Pol = Policy<packing::I2, act::Int8, backend::Serial>;
  Model<Pol> model(io::load_checkpoint<packing::I2>(run / "checkpoint"));
  CHECK(model.config().vocab_size == 29);
  // resume: 10 more steps continue the curve
  r = run_cli(common + " --steps 30 --resume");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("resuming") != std::string::npos);
  csv = read_file(run / "loss.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 31);
  CHECK(nlohmann::json::parse(read_file(run / "summary.json")).at("steps") == 30);
}

TEST_CASE("mmfree train reads text through a tokenizer", "[cli][train]") {
  TempDir tmp("clitext");
  {
    std::ofstream f(tmp.path / "text.txt");
    for (int k = 0; k < 30; ++k)
      f << "In the beginning God created the heaven and the earth.\n"
        << "And the earth was without form, and void; and darkness was upon the face of the deep.\n";
  }
  const auto r = run_cli("train --data \"" + (tmp.path / "text.txt").string() + "\" --tokenizer \"" +
                         (golden_dir() / "tokenizer" / "tokenizer.model").string() +
                         "\" --hidden 16 --layers 1 --steps 3 --batch 2 --seq-len 16 --threads 1 -o \"" +
                         (tmp.path / "run").string() + "\"");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("V=3000") != std::string::npos);
  CHECK(fs::exists(tmp.path / "run" / "checkpoint" / "tokenizer.model"));
}

TEST_CASE("mmfree train fails cleanly", "[cli][train][errors]") {
  TempDir tmp("clitrainbad");
  auto fails_with = [&](const std::string& args, const std::string& needle) {
    const auto r = run_cli(args);
    INFO(args << "\n" << r.output);
    CHECK(r.code != 0);
    CHECK(r.output.find(needle) != std::string::npos);
  };
  const auto model = (golden_dir() / "tiny-a" / "model").string();
  fails_with("train --ids 1,2 --check-grads " + (tmp.path / "g.safetensors").string(), "needs -m");
  fails_with("train -m \"" + model + "\" --ids 1,2,256 --check-grads " + (tmp.path / "g.safetensors").string(),
             "token id 256");
  std::ofstream(tmp.path / "d.ids") << "1 2 3\n4 x 5\n";
  fails_with("train --data-ids " + (tmp.path / "d.ids").string() + " --vocab 9 -o " + tmp.path.string(),
             "'x' is not a token id");
  std::ofstream(tmp.path / "e.ids") << "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n";
  fails_with("train --data-ids " + (tmp.path / "e.ids").string() + " -o " + tmp.path.string(), "--vocab");
  fails_with("train --data-ids " + (tmp.path / "e.ids").string() + " --vocab 9 -o " + tmp.path.string(),
             "token id 20");
  fails_with("train --data " + (tmp.path / "e.ids").string() + " -o " + tmp.path.string(), "--tokenizer");
}
#endif
