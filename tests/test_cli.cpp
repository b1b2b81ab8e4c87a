// SPDX-License-Identifier: MIT
// The mmfree command-line tool end to end: parity output files and clean failures.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <string>

#include <mmfree/mmfree.hpp>

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
