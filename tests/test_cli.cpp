// SPDX-License-Identifier: MIT
// The mmfree command-line tool end to end: parity output files and clean failures.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

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
