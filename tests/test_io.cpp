// SPDX-License-Identifier: MIT
// Loading: safetensors, config.json, sharded checkpoints, storage types, and every error path
// (each must end in an mmfree::Error that names the problem, never a crash).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <mmfree/mmfree.hpp>

#include "support/files.hpp"
#include "support/catch.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/random_checkpoint.hpp"

using namespace mmfree;
using namespace mmfree_test;
namespace fs = std::filesystem;

namespace {

using Pol = Policy<packing::I2, act::Int8, backend::Serial>;

std::vector<float> logits_of(const fs::path& dir, const std::vector<std::int32_t>& ids, index_t batch) {
  Model<Pol> m(io::load_checkpoint<packing::I2>(dir));
  auto ws = m.make_workspace({.max_batch = batch, .max_chunk = 8});
  auto st = m.make_state(batch);
  std::vector<float> out(ids.size() * std::size_t(m.config().vocab_size));
  m.prefill(ws, st, ids, batch, out);
  return out;
}


/// Expects load_checkpoint(dir) to throw an mmfree::Error whose message contains every `needle`.
void expect_load_error(const fs::path& dir, std::initializer_list<std::string> needles) {
  try {
    (void)io::load_checkpoint<packing::I2>(dir);
    FAIL("loading succeeded, an error was expected");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    for (const auto& n : needles) CHECK(msg.find(n) != std::string::npos);
  }
}

std::vector<std::int32_t> some_ids(index_t n, index_t V) {
  std::vector<std::int32_t> ids;
  for (index_t i = 0; i < n; ++i) ids.push_back(std::int32_t((i * 31 + 3) % V));
  return ids;
}

}  // namespace

TEST_CASE("safetensors round trip", "[io]") {
  TempDir dir("st");
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const std::uint16_t b[2] = {f32_to_bf16(1.5f), f32_to_bf16(-2.0f)};
  io::write_safetensors(dir.path / "x.safetensors",
                        {{"a", DType::F32, {2, 3}, a, 24}, {"b", DType::BF16, {2}, b, 4}}, {{"k", "v"}});
  auto st = io::SafetensorsFile::open(dir.path / "x.safetensors");
  REQUIRE(st.tensors().size() == 2);
  CHECK(st.get("a").shape == std::vector<index_t>{2, 3});
  CHECK(st.get("a").at(5) == 6.0f);
  CHECK(st.get("b").at(1) == -2.0f);
  CHECK(st.metadata().at("k") == "v");
  CHECK(st.find("c") == nullptr);
  CHECK_THROWS_AS(st.get("c"), Error);
}

TEST_CASE("corrupted safetensors files give errors naming the file and tensor", "[io][errors]") {
  TempDir dir("stbad");
  const float a[4] = {1, 2, 3, 4};
  const fs::path good = dir.path / "good.safetensors";
  io::write_safetensors(good, {{"weight", DType::F32, {4}, a, 16}});
  const std::string bytes = slurp(good);
  const fs::path bad = dir.path / "bad.safetensors";
  auto expect = [&](const std::string& content, const std::string& needle) {
    spit(bad, content);
    try {
      (void)io::SafetensorsFile::open(bad);
      FAIL("no error for: " << needle);
    } catch (const Error& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find("bad.safetensors") != std::string::npos);
      CHECK(msg.find(needle) != std::string::npos);
    }
  };
  SECTION("empty") { expect("", "too short"); }
  SECTION("truncated data") { expect(bytes.substr(0, bytes.size() - 4), "weight"); }
  SECTION("truncated header") { expect(bytes.substr(0, 20), "header length"); }
  SECTION("huge header length") {
    std::string s = bytes;
    s[7] = char(0x7f);
    expect(s, "header length");
  }
  SECTION("header not JSON") {
    std::string s = bytes;
    s[8] = '#';
    expect(s, "not a JSON object");
  }
  auto with_header = [&](const std::string& h) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[std::size_t(i)] = char((h.size() >> (8 * i)) & 0xff);
    return s + h + std::string(16, '\0');
  };
  SECTION("unknown dtype") { expect(with_header(R"({"weight":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}})"), "dtype"); }
  SECTION("offsets past the end") {
    expect(with_header(R"({"weight":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}})"), "outside");
  }
  SECTION("shape disagrees with bytes") {
    expect(with_header(R"({"weight":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}})"), "needs");
  }
  SECTION("negative shape") { expect(with_header(R"({"weight":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})"), "shape"); }
  SECTION("begin after end") { expect(with_header(R"({"weight":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}})"), "outside"); }
  SECTION("entry not an object") { expect(with_header(R"({"weight":3})"), "weight"); }
  SECTION("shape overflow") {
    expect(with_header(R"({"weight":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})"),
           "shape");
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(io::SafetensorsFile::open(dir.path / "nope.safetensors"), Catch::Matchers::ContainsSubstring("nope.safetensors"));
  }
}

TEST_CASE("config.json parsing: rules, defaults and refusals", "[io][config]") {
  const std::string base = R"({"model_type":"hgrn_bit","vocab_size":256,"hidden_size":64,"num_hidden_layers":2)";
  SECTION("intermediate_size null follows the hidden_ratio rule") {
    auto c = io::parse_hf_config(base + R"(,"intermediate_size":null,"hidden_ratio":4})", "c.json");
    CHECK(c.intermediate_size == 256);
    CHECK(c.use_lower_bound);
    CHECK(c.rms_norm_eps == 1e-6f);
    auto c2 = io::parse_hf_config(base + R"(,"hidden_ratio":3,"use_lower_bound":false})", "c.json");
    CHECK(c2.intermediate_size == 256);  // int(64*3*2/3) = 128 -> 256
    CHECK(!c2.use_lower_bound);
    auto c3 = io::parse_hf_config(base + R"(,"intermediate_size":100})", "c.json");
    CHECK(c3.intermediate_size == 100);
  }
  auto refused = [&](const std::string& text, const std::string& needle) {
    try {
      (void)io::parse_hf_config(text, "cfg.json");
      FAIL("accepted: " << text);
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      CHECK(std::string(e.what()).find("cfg.json") != std::string::npos);
    }
  };
  SECTION("refusals name the problem") {
    refused(base + R"(,"use_short_conv":true})", "use_short_conv");
    refused(base + R"(,"expand_ratio":2})", "expand_ratio");
    refused(R"({"model_type":"llama","vocab_size":256,"hidden_size":64,"num_hidden_layers":2})", "model_type");
    refused(base + "", "malformed JSON");
    refused("[1,2]", "not a JSON object");
    refused(R"({"model_type":"hgrn_bit","vocab_size":256,"num_hidden_layers":2})", "hidden_size");
    refused(base + R"(,"vocab_size":"256"})", "vocab_size");
    refused(base + R"(,"hidden_size":-64})", "hidden_size");
    refused(base + R"(,"num_heads":3})", "num_heads");
    refused(base + R"(,"hidden_act":"gelu"})", "hidden_act");
    refused(base + R"(,"rms_norm_eps":0})", "rms_norm_eps");
  }
}

TEST_CASE("checkpoints stored as f32, bf16, f16 and in shards load to the same model", "[io]") {
  const auto cfg = odd_config(131, 48, 2, 80);
  const auto ids = some_ids(2 * 9, cfg.vocab_size);
  for (DType dt : {DType::BF16, DType::F16}) {
    TempDir a("f32"), b("half");
    write_random_checkpoint(a.path, cfg, DType::F32, 1, 11, dt);  // f32 holding half-representable values
    write_random_checkpoint(b.path, cfg, dt, 1, 11, dt);
    const auto la = logits_of(a.path, ids, 2);
    const auto lb = logits_of(b.path, ids, 2);
    CHECK(la == lb);
  }
  TempDir s1("single"), s3("sharded");
  write_random_checkpoint(s1.path, cfg, DType::BF16, 1, 5);
  write_random_checkpoint(s3.path, cfg, DType::BF16, 3, 5);
  CHECK(fs::exists(s3.path / "model.safetensors.index.json"));
  CHECK(logits_of(s1.path, ids, 2) == logits_of(s3.path, ids, 2));
}

TEST_CASE("corrupted checkpoints give errors that name the file or tensor", "[io][errors]") {
  const auto cfg = odd_config(64, 32, 2, 64);
  TempDir dir("ckbad");
  write_random_checkpoint(dir.path, cfg);
  const fs::path st = dir.path / "model.safetensors";
  const std::string bytes = slurp(st);

  SECTION("truncated weights file") {
    spit(st, bytes.substr(0, bytes.size() / 2));
    expect_load_error(dir.path, {"model.safetensors", "truncated"});
  }
  SECTION("missing directory") { expect_load_error(dir.path / "nope", {"nope", "does not exist"}); }
  SECTION("missing config.json") {
    fs::remove(dir.path / "config.json");
    expect_load_error(dir.path, {"config.json"});
  }
  SECTION("malformed config.json") {
    spit(dir.path / "config.json", "{\"model_type\": \"hgrn_bit\", ");
    expect_load_error(dir.path, {"config.json", "malformed JSON"});
  }
  SECTION("unsupported config") {
    auto text = slurp(dir.path / "config.json");
    text.replace(text.find("\"use_short_conv\": false"), 23, "\"use_short_conv\": true");
    spit(dir.path / "config.json", text);
    expect_load_error(dir.path, {"use_short_conv"});
  }
  SECTION("config disagrees with the tensors' shapes") {
    auto text = slurp(dir.path / "config.json");
    text.replace(text.find("\"intermediate_size\": 64"), 23, "\"intermediate_size\": 96");
    spit(dir.path / "config.json", text);
    expect_load_error(dir.path, {"model.layers.0.mlp.gate_proj.weight", "shape"});
  }
  SECTION("missing tensor") {
    auto r = random_tensors(cfg, DType::F32, 3);
    std::vector<io::TensorToWrite> keep;
    for (auto& t : r.tensors)
      if (t.name != "model.layers.1.attn.g_norm.weight") keep.push_back(t);
    io::write_safetensors(st, keep);
    expect_load_error(dir.path, {"model.layers.1.attn.g_norm.weight", "missing"});
  }
  SECTION("integer weights") {
    auto r = random_tensors(cfg, DType::F32, 3);
    for (auto& t : r.tensors)
      if (t.name == "lm_head.weight") t.dtype = DType::I32;
    io::write_safetensors(st, r.tensors);
    expect_load_error(dir.path, {"lm_head.weight", "I32"});
  }
  SECTION("non-finite weights") {
    auto r = random_tensors(cfg, DType::F32, 3);
    for (std::size_t i = 0; i < r.tensors.size(); ++i)
      if (r.tensors[i].name == "model.layers.0.attn.f_proj.weight") {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(r.bytes[i].data() + 40, &nan, 4);
      }
    io::write_safetensors(st, r.tensors);
    expect_load_error(dir.path, {"model.layers.0.attn.f_proj.weight", "non-finite"});
  }
  SECTION("no weights file") {
    fs::remove(st);
    expect_load_error(dir.path, {"model.safetensors"});
  }
}

TEST_CASE("broken sharded index files give clear errors", "[io][errors]") {
  const auto cfg = odd_config(64, 32, 2, 64);
  TempDir dir("shardbad");
  write_random_checkpoint(dir.path, cfg, DType::F32, 2);
  const fs::path index = dir.path / "model.safetensors.index.json";
  SECTION("missing shard") {
    fs::remove(dir.path / "model-00002-of-00002.safetensors");
    expect_load_error(dir.path, {"model-00002-of-00002.safetensors"});
  }
  SECTION("malformed index") {
    spit(index, "{\"weight_map\": ");
    expect_load_error(dir.path, {"model.safetensors.index.json", "malformed"});
  }
  SECTION("index points outside the directory") {
    spit(index, R"({"weight_map": {"lm_head.weight": "../../etc/passwd"}})");
    expect_load_error(dir.path, {"plain file name"});
  }
  SECTION("index names the wrong shard") {
    auto text = slurp(index);
    const std::string from = "\"lm_head.weight\": \"model-00002-of-00002.safetensors\"";
    const auto pos = text.find(from);
    REQUIRE(pos != std::string::npos);
    text.replace(pos, from.size(), "\"lm_head.weight\": \"model-00001-of-00002.safetensors\"");
    spit(index, text);
    expect_load_error(dir.path, {"lm_head.weight", "does not hold it"});
  }
}

TEST_CASE("out-of-range token ids, bad batches and buffer sizes are refused", "[model][errors]") {
  const auto cfg = odd_config(64, 32, 2, 64);
  TempDir dir("ids");
  write_random_checkpoint(dir.path, cfg);
  Model<Pol> m(io::load_checkpoint<packing::I2>(dir.path));
  auto ws = m.make_workspace({.max_batch = 2, .max_chunk = 4});
  auto st = m.make_state(2);
  std::vector<float> logits(std::size_t(2 * 64));
  const std::vector<std::int32_t> bad = {1, 64};
  CHECK_THROWS_WITH(m.step(ws, st, bad, logits), Catch::Matchers::ContainsSubstring("token id 64"));
  const std::vector<std::int32_t> neg = {-1, 2};
  CHECK_THROWS_WITH(m.step(ws, st, neg, logits), Catch::Matchers::ContainsSubstring("token id -1"));
  const std::vector<std::int32_t> three = {1, 2, 3};
  std::vector<float> l3(std::size_t(3 * 64));
  CHECK_THROWS_WITH(m.step(ws, st, three, l3), Catch::Matchers::ContainsSubstring("max_batch"));
  const std::vector<std::int32_t> ok = {1, 2};
  std::vector<float> small(10);
  CHECK_THROWS_WITH(m.step(ws, st, ok, small), Catch::Matchers::ContainsSubstring("logits buffer"));
  std::vector<float> l5(std::size_t(5 * 64));
  CHECK_THROWS_WITH(m.prefill(ws, st, std::vector<std::int32_t>{1, 2, 3, 4, 5}, 2, l5),
                    Catch::Matchers::ContainsSubstring("do not split"));
  using WrongPacking = Model<Policy<packing::TQ1, act::Int8, backend::Serial>>;
  CHECK_THROWS_WITH(WrongPacking(io::load_checkpoint<packing::I2>(dir.path)), Catch::Matchers::ContainsSubstring("'i2'"));
}

TEST_CASE("golden tiny-a loads with the expected configuration", "[io]") {
  auto ck = io::Checkpoint::open(golden_dir() / "tiny-a" / "model");
  CHECK(ck.config().vocab_size == 256);
  CHECK(ck.config().hidden_size == 64);
  CHECK(ck.config().num_layers == 2);
  CHECK(ck.config().intermediate_size == 256);
  CHECK(ck.config().use_lower_bound);
}
