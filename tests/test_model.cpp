// SPDX-License-Identifier: MIT
// The serial reference against the upstream golden data (tiny-a), layer by layer and end to end,
// and our own prefill against our own decode.
#include <cstdlib>
#include <new>
#include <vector>

#include <mmfree/mmfree.hpp>

#include "support/catch.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/random_checkpoint.hpp"

using namespace mmfree;
using namespace mmfree_test;

namespace {

using SerialI2 = Policy<packing::I2, act::Int8, backend::Serial>;

struct Golden {
  io::SafetensorsFile expected = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
  std::vector<float> get(const std::string& name) const { return as_f32(expected.get(name)); }
};

const Golden& golden() {
  static Golden g;
  return g;
}

template <class Pol>
const Model<Pol>& tiny_model() {
  static Model<Pol> m(io::load_checkpoint<typename Pol::packing>(golden_dir() / "tiny-a" / "model"));
  return m;
}

/// Runs a BitLinear of the model on golden input `<module>.in` and compares with `.out`.
template <class Pol>
void check_bitlinear(const BitLinear<Pol>& layer, const std::string& module) {
  const auto in = golden().get(module + ".in");
  const auto want = golden().get(module + ".out");
  const index_t rows = index_t(in.size()) / layer.in_features();
  std::vector<float> out(std::size_t(rows * layer.out_features()));
  Workspace<Pol> ws(tiny_model<Pol>().config(), {.max_batch = rows, .max_chunk = 1});
  layer.forward(ws.context(), ConstMatrixView<float>(in.data(), rows, layer.in_features()),
                MatrixView<float>(out.data(), rows, layer.out_features()), ws.act_scratch());
  INFO(module << " max-rel " << max_rel(out, want));
  CHECK(max_rel(out, want) <= 1e-6);
}

}  // namespace

TEMPLATE_TEST_CASE("each BitLinear of layer 0 and lm_head matches upstream on its golden input", "[golden]",
                   (Policy<packing::I8, act::Int8, backend::Serial>), SerialI2,
                   (Policy<packing::TQ1, act::Int8, backend::Serial>), (Policy<packing::I2, act::FakeQuant, backend::Serial>)) {
  const auto& m = tiny_model<TestType>();
  const auto& b = m.blocks()[0];
  check_bitlinear(b.attn().i_proj(), "model.layers.0.attn.i_proj");
  check_bitlinear(b.attn().f_proj(), "model.layers.0.attn.f_proj");
  check_bitlinear(b.attn().g_proj(), "model.layers.0.attn.g_proj");
  check_bitlinear(b.attn().o_proj(), "model.layers.0.attn.o_proj");
  check_bitlinear(b.mlp().gate_proj(), "model.layers.0.mlp.gate_proj");
  check_bitlinear(b.mlp().down_proj(), "model.layers.0.mlp.down_proj");
  check_bitlinear(m.lm_head(), "lm_head");
}

TEST_CASE("norms, gated norm, MLGRU and GLU of layer 0 match upstream", "[golden]") {
  const auto& m = tiny_model<SerialI2>();
  const auto& cfg = m.config();
  const index_t H = cfg.hidden_size, B = 2, T = 16, R = B * T;
  Workspace<SerialI2> ws(cfg, {.max_batch = B, .max_chunk = T});
  auto& ctx = ws.context();
  const auto& blk = m.blocks()[0];
  std::vector<float> out(std::size_t(R * H));
  MatrixView<float> y(out.data(), R, H);

  SECTION("attn_norm") {
    const auto in = golden().get("model.layers.0.attn_norm.in");
    blk.attn_norm().forward(ctx, ConstMatrixView<float>(in.data(), R, H), y);
    CHECK(max_rel(out, golden().get("model.layers.0.attn_norm.out")) <= 1e-6);
  }
  SECTION("g_norm (RMSNorm(g) * silu(recurrence))") {
    const auto g = golden().get("model.layers.0.attn.g_norm.in");
    const auto s = golden().get("model.layers.0.attn.g_norm.in2");
    detail::Kernels<backend::Serial>::gated_norm(ctx, ConstMatrixView<float>(g.data(), R, H),
                                                  ConstMatrixView<float>(s.data(), R, H), m.weights().layers[0].g_norm,
                                                  cfg.rms_norm_eps, y);
    CHECK(max_rel(out, golden().get("model.layers.0.attn.g_norm.out")) <= 1e-6);
  }
  SECTION("MLGRU token mixer from its golden input, zero state") {
    const auto in = golden().get("model.layers.0.attn.in");
    auto state = m.make_state(B);
    blk.attn().forward(ctx, ConstMatrixView<float>(in.data(), R, H), state.layer(0), B, T, y,
                       ws.block_scratch(R).token, ws.act_scratch());
    CHECK(max_rel(out, golden().get("model.layers.0.attn.out")) <= 1e-5);
  }
  SECTION("GLU channel mixer from its golden input") {
    const auto in = golden().get("model.layers.0.mlp.in");
    blk.mlp().forward(ctx, ConstMatrixView<float>(in.data(), R, H), y, ws.block_scratch(R).channel, ws.act_scratch());
    CHECK(max_rel(out, golden().get("model.layers.0.mlp.out")) <= 1e-6);
  }
}

TEST_CASE("hidden states after each layer match upstream", "[golden]") {
  const auto& m = tiny_model<SerialI2>();
  const auto& cfg = m.config();
  const index_t H = cfg.hidden_size, B = 2, T = 16, R = B * T;
  const auto ids = ids_of(golden().expected);
  Workspace<SerialI2> ws(cfg, {.max_batch = B, .max_chunk = T});
  auto state = m.make_state(B);
  auto h = ws.hidden(R);
  detail::Kernels<backend::Serial>::embed(ws.context(), m.weights().embeddings, ids.data(), h);
  std::vector<float> hv(h.data, h.data + R * H);
  CHECK(max_rel(hv, golden().get("hidden_states.0")) == 0.0);
  for (index_t l = 0; l < cfg.num_layers; ++l) {
    m.blocks()[std::size_t(l)].forward(ws.context(), h, state.layer(l), B, T, ws.block_scratch(R));
    hv.assign(h.data, h.data + R * H);
    if (l + 1 == cfg.num_layers) m.final_norm().forward(ws.context(), h, MatrixView<float>(hv.data(), R, H));
    const auto want = golden().get("hidden_states." + std::to_string(l + 1));
    INFO("layer " << l << " max-rel " << max_rel(hv, want) << " mean-rel " << mean_rel(hv, want));
    // first layer: <= 1e-6 (spec); later layers: code flips travel through the recurrence
    CHECK(max_rel(hv, want) <= (l == 0 ? 1e-6 : 2e-2));
    CHECK(mean_rel(hv, want) <= 4e-3);
  }
}

TEMPLATE_TEST_CASE("full-sequence and token-by-token logits match upstream", "[golden]",
                   (Policy<packing::I8, act::Int8, backend::Serial>), SerialI2,
                   (Policy<packing::TQ1, act::Int8, backend::Serial>), (Policy<packing::I2, act::FakeQuant, backend::Serial>)) {
  const auto& m = tiny_model<TestType>();
  const index_t V = m.config().vocab_size, B = 2, T = 16;
  const auto ids = ids_of(golden().expected);
  auto ws = m.make_workspace({.max_batch = B, .max_chunk = 5});  // chunked prefill: 5+5+5+1
  auto state = m.make_state(B);
  std::vector<float> full(std::size_t(B * T * V));
  m.prefill(ws, state, ids, B, full, Logits::all);

  std::vector<float> stepped(full.size()), one(std::size_t(B * V));
  auto st2 = m.make_state(B);
  for (index_t t = 0; t < T; ++t) {
    const std::int32_t tok[2] = {ids[std::size_t(t)], ids[std::size_t(T + t)]};
    m.step(ws, st2, tok, one);
    for (index_t b = 0; b < B; ++b)
      std::copy_n(one.begin() + b * V, V, stepped.begin() + (b * T + t) * V);
  }
  const auto want = golden().get("logits");
  const auto want_step = golden().get("step_logits");
  INFO("prefill max-rel " << max_rel(full, want) << " mean-rel " << mean_rel(full, want));
  CHECK(mean_rel(full, want) <= 4e-3);
  CHECK(max_rel(full, want) <= 2e-2);
  CHECK(argmax_agreement(full, want, std::size_t(V)) == 1.0);
  INFO("step max-rel " << max_rel(stepped, want_step));
  CHECK(mean_rel(stepped, want_step) <= 4e-3);
  CHECK(max_rel(stepped, want_step) <= 2e-2);
  CHECK(argmax_agreement(stepped, want_step, std::size_t(V)) == 1.0);
  // our own prefill and decode compute the same function with the same roundings
  CHECK(max_rel(stepped, full) <= 1e-5);

  // Logits::last equals the last row of Logits::all
  std::vector<float> last(std::size_t(B * V));
  auto st3 = m.make_state(B);
  m.prefill(ws, st3, ids, B, last, Logits::last);
  for (index_t b = 0; b < B; ++b)
    for (index_t v = 0; v < V; ++v) CHECK(last[std::size_t(b * V + v)] == full[std::size_t((b * T + T - 1) * V + v)]);
}

TEST_CASE("every packing gives the same logits (integer accumulation is exact)", "[model]") {
  const auto cfg = odd_config();
  TempDir dir("packings");
  write_random_checkpoint(dir.path, cfg);
  auto run = [&]<class P>(P) {
    Model<Policy<P, act::Int8, backend::Serial>> m(io::load_checkpoint<P>(dir.path));
    auto ws = m.make_workspace({.max_batch = 2, .max_chunk = 7});
    auto st = m.make_state(2);
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 2 * 11; ++i) ids.push_back((i * 37 + 5) % 97);
    std::vector<float> out(std::size_t(2 * 11 * cfg.vocab_size));
    m.prefill(ws, st, ids, 2, out);
    return out;
  };
  const auto a = run(packing::I8{});
  CHECK(a == run(packing::I2{}));
  CHECK(a == run(packing::TQ1{}));
}

#include "support/count_allocations.hpp"  // counting operator new (this binary only)

TEST_CASE("a decode step allocates nothing", "[model]") {
  const auto& m = tiny_model<SerialI2>();
  auto ws = m.make_workspace({.max_batch = 2, .max_chunk = 4});
  auto state = m.make_state(2);
  std::vector<float> logits(std::size_t(2 * m.config().vocab_size));
  const std::int32_t ids[2] = {3, 7};
  m.step(ws, state, ids, logits);  // warm-up
  g_allocations = 0;
  g_count = true;
  for (int i = 0; i < 5; ++i) m.step(ws, state, ids, logits);
  g_count = false;
  CHECK(g_allocations == 0);
}

TEST_CASE("random models of the published shapes are well-formed", "[model]") {
  CHECK(preset_config("370m").intermediate_size == 2816);
  CHECK(preset_config("1.3b").intermediate_size == 5632);
  CHECK(preset_config("2.7b").intermediate_size == 6912);
  CHECK(preset_config("370m").ternary_params() == 341'049'344);  // engineering-notes: ~341 M
  CHECK_THROWS_AS(preset_config("7b"), Error);
  auto cfg = odd_config();
  Model<SerialI2> m(random_weights<packing::I2>(cfg, 3));
  auto ws = m.make_workspace();
  auto st = m.make_state(1);
  std::vector<float> logits(std::size_t(cfg.vocab_size));
  const std::int32_t id = 5;
  m.step(ws, st, {&id, 1}, logits);
  for (float v : logits) CHECK(std::isfinite(v));
  // same seed, same model
  Model<SerialI2> m2(random_weights<packing::I2>(cfg, 3));
  auto st2 = m2.make_state(1);
  std::vector<float> logits2(logits.size());
  m2.step(ws, st2, {&id, 1}, logits2);
  CHECK(logits == logits2);
}
