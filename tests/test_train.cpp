// SPDX-License-Identifier: MIT
// Training: gradients against upstream's own backward (golden tiny-a) and against finite
// differences, the forward against the inference model, optimizer, schedule, checkpoints.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <mmfree/mmfree.hpp>
#include <mmfree/train.hpp>

#include "support/catch.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/random_checkpoint.hpp"

using namespace mmfree;
using namespace mmfree_test;

namespace {

/// ||a - b||_2 / ||b||_2
double l2_rel(const float* a, const float* b, index_t n) {
  double num = 0, den = 0;
  for (index_t i = 0; i < n; ++i) {
    num += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace

TEST_CASE("loss and every gradient match upstream's backward on tiny-a", "[train][golden]") {
  const auto ck = io::Checkpoint::open(golden_dir() / "tiny-a" / "model");
  const auto expected = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
  const auto ref = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "grads.safetensors");
  const auto ids = ids_of(expected);
  const index_t batch = expected.get("input_ids").shape[0];
  for (int threads : {1, 3}) {
    train::ThreadPool pool(threads);
    train::Network net(ck.config(), pool, {.grain = threads > 1 ? 1 : 16384});  // grain 1: every loop split
    const auto& L = net.layout();
    train::ParamBuffer params(L), grads(L);
    train::load_parameters(L, ck, params);
    const auto targets = train::shifted_targets(ids, batch);
    const train::LossSum loss = net.forward_backward(params.data(), ids, targets, batch, grads.data());
    const double ref_loss = ref.get("loss").at(0);
    INFO("loss " << loss.mean() << " upstream " << ref_loss);
    CHECK(std::fabs(loss.mean() - ref_loss) / ref_loss < 1e-4);
    double worst = 0;
    for (std::size_t k = 0; k < L.tensors.size(); ++k) {
      const auto& t = L.tensors[k];
      const auto want = as_f32(ref.get("grad." + t.name));
      const double e = l2_rel(grads.data() + L.offsets[k], want.data(), index_t(want.size()));
      worst = std::max(worst, e);
      INFO(t.name << " relative L2 error " << e);
      CHECK(e < 1e-2);
      if (threads == 1) std::printf("  %-45s %.2e\n", t.name.c_str(), e);
    }
    std::printf("threads %d: loss %.6f (upstream %.6f), worst gradient error %.2e\n", threads, loss.mean(), ref_loss, worst);
  }
}

namespace {

/// A tiny model with deliberately odd sizes and three layers (two with lower bounds).
ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_layers = 3;
  c.intermediate_size = 12;
  return c;
}

/// Random parameters of every kind, all O(1) (small embeddings would make the RMSNorms strongly
/// curved and finite differences inaccurate): norms near 1, lower bounds spread so the softmax matters.
void random_params(const train::ParamLayout& L, train::ParamBuffer& p, std::uint64_t seed) {
  train::SplitMix64 rng(seed);
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const auto& t = L.tensors[k];
    float* d = p.data() + L.offsets[k];
    for (index_t i = 0; i < train::ParamLayout::numel(t); ++i) {
      const double u = 2.0 * rng.uniform() - 1.0;
      d[i] = float(t.shape.size() == 1 ? 1.0 + 0.3 * u : u);
    }
  }
}

}  // namespace

TEST_CASE("the backward is the true gradient when the quantisers are made the identity", "[train][fd]") {
  // With identity quantisers the straight-through backward must be the exact derivative, so a
  // finite difference of the loss checks every formula (norms, recurrence through time, lower
  // bounds through softmax/cumsum, gated norm, GLU, embeddings, cross-entropy).
  const ModelConfig cfg = tiny_config();
  train::ThreadPool pool(1);
  train::Network net(cfg, pool, {.quantize = false});
  const auto& L = net.layout();
  train::ParamBuffer params(L), grads(L), probe(L);
  random_params(L, params, 7);
  const std::vector<std::int32_t> ids = {1, 5, 12, 0, 7, 7, 3, 9, 2, 11, 4, 6};  // [2, 6]
  const auto targets = train::shifted_targets(ids, 2);
  net.forward_backward(params.data(), ids, targets, 2, grads.data());
  probe.copy_from(params);
  auto loss_at = [&](index_t i, float x) {
    probe.data()[i] = x;
    const double l = net.forward_backward(probe.data(), ids, targets, 2, nullptr).mean();
    probe.data()[i] = params.data()[i];
    return l;
  };
  const float h = 4e-3f;  // parameters are O(1): truncation and f32 noise both stay near 1e-4
  double worst = 0;
  for (std::size_t k = 0; k < L.tensors.size(); ++k) {
    const index_t n = train::ParamLayout::numel(L.tensors[k]);
    std::vector<float> fd(static_cast<std::size_t>(n));
    for (index_t j = 0; j < n; ++j) {
      const index_t i = L.offsets[k] + j;
      const float x = params.data()[i];
      // fourth-order central difference
      fd[std::size_t(j)] = float((loss_at(i, x - 2 * h) - 8 * loss_at(i, x - h) + 8 * loss_at(i, x + h) -
                                  loss_at(i, x + 2 * h)) / (12.0 * h));
    }
    const double e = l2_rel(grads.data() + L.offsets[k], fd.data(), n);
    worst = std::max(worst, e);
    INFO(L.tensors[k].name << ": relative L2 error against finite differences " << e);
    CHECK(e < 2e-3);
  }
  std::printf("finite differences: worst relative L2 error %.2e\n", worst);
}

TEST_CASE("the training forward is the inference model's function", "[train][forward]") {
  const auto ck = io::Checkpoint::open(golden_dir() / "tiny-a" / "model");
  const auto expected = io::SafetensorsFile::open(golden_dir() / "tiny-a" / "expected.safetensors");
  const auto ids = ids_of(expected);
  const index_t batch = expected.get("input_ids").shape[0];
  train::ThreadPool pool(2);
  train::Network net(ck.config(), pool);
  train::ParamBuffer params(net.layout());
  train::load_parameters(net.layout(), ck, params);
  std::vector<float> ours(ids.size() * std::size_t(ck.config().vocab_size));
  net.forward_logits(params.data(), ids, batch, ours);

  // act::Int8: the ternary products are exact integers in both, everything else is the same
  // row functions, so the logits agree to the last bit.
  using Int8 = Policy<packing::I2, act::Int8, backend::Serial>;
  Model<Int8> model(io::pack_checkpoint<packing::I2>(ck));
  auto ws = model.make_workspace({.max_batch = batch, .max_chunk = 16});
  auto state = model.make_state(batch);
  std::vector<float> inf(ours.size());
  model.prefill(ws, state, ids, batch, inf, Logits::all);
  CHECK(max_rel(ours, inf) == 0.0);
  // and upstream's logits as the spec says
  const auto up = as_f32(expected.get("logits"));
  CHECK(mean_rel(ours, up) < 4e-3);
  CHECK(argmax_agreement(ours, up, std::size_t(ck.config().vocab_size)) == 1.0);
}

namespace {

/// A small model for training tests.
ModelConfig small_config() {
  ModelConfig c;
  c.vocab_size = 29;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.intermediate_size = 24;
  return c;
}

/// A learnable stream: a fixed pseudo-random sequence of 40 tokens, repeated.
std::vector<std::int32_t> pattern_stream(index_t n, index_t V) {
  std::vector<std::int32_t> s(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) s[std::size_t(i)] = std::int32_t(((i % 40) * 17 + (i % 40) / 3) % V);
  return s;
}

train::TrainOptions small_options(index_t steps) {
  train::TrainOptions o;
  o.batch = 4;
  o.seq_len = 12;
  o.schedule.lr = 1e-2f;
  o.schedule.warmup = 3;
  o.schedule.total_steps = steps;
  o.seed = 11;
  return o;
}

std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("mmfree_test_train_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(d);
  return d;
}

}  // namespace

TEST_CASE("thread pool: static pieces, every index once, exceptions reach the caller", "[train][pool]") {
  train::ThreadPool pool(3);
  std::vector<int> owner(100, -1);
  pool.parallel_for(100, [&](index_t b, index_t e, int t) {
    for (index_t i = b; i < e; ++i) owner[std::size_t(i)] = t;
  });
  for (std::size_t i = 0; i < owner.size(); ++i) CHECK(owner[i] == (i < 34 ? 0 : i < 67 ? 1 : 2));
  int calls = 0;
  pool.parallel_for(100, [&](index_t, index_t, int) { ++calls; }, 60);  // grain 60: one piece
  CHECK(calls == 1);
  CHECK_THROWS_WITH(pool.run([](int t) {
    if (t == 2) throw Error("worker two failed");
  }),
                    Catch::Matchers::ContainsSubstring("worker two failed"));
  pool.run([](int) {});  // still usable
}

TEST_CASE("learning-rate schedule: warm-up, cosine, halved midway", "[train][schedule]") {
  train::Schedule s;
  s.lr = 1.0f;
  s.warmup = 10;
  s.total_steps = 110;
  s.min_ratio = 0.1f;
  s.halve_at = 0.5f;
  CHECK(std::fabs(s.at(0) - 0.1f) < 1e-6f);
  CHECK(std::fabs(s.at(9) - 1.0f) < 1e-6f);
  CHECK(std::fabs(s.at(10) - 1.0f) < 1e-6f);  // cosine starts at the peak
  // just before and at the midpoint (step 55): the cosine value, then half of it
  const double p54 = 44.0 / 100.0, p55 = 45.0 / 100.0;
  CHECK(std::fabs(s.at(54) - float(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * p54)))) < 1e-6f);
  CHECK(std::fabs(s.at(55) - float(0.5 * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * p55))))) < 1e-6f);
  CHECK(std::fabs(s.at(110) - 0.05f) < 1e-6f);  // floor, halved
  for (index_t k = 11; k < 110; ++k)
    if (k != 55) CHECK(s.at(k) <= s.at(k - 1));
  s.halve_at = 0.0f;
  CHECK(std::fabs(s.at(110) - 0.1f) < 1e-6f);
  s.lr = -1.0f;
  CHECK_THROWS_WITH(s.validate(), Catch::Matchers::ContainsSubstring("learning rate"));
}

TEST_CASE("AdamW and clipping follow torch's formulas", "[train][optimizer]") {
  ModelConfig c = small_config();
  const auto L = train::ParamLayout::of(c);
  train::ThreadPool pool(2);
  train::ParamBuffer p(L), g(L);
  train::init_parameters(L, p, 3);
  for (index_t i = 0; i < L.total; ++i) g.data()[i] = 0.01f * float(i % 7) - 0.03f;
  train::ParamBuffer p0(L);
  p0.copy_from(p);
  train::AdamW opt(L, {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f});
  opt.step(pool, p.data(), g.data(), 0.01f);
  opt.step(pool, p.data(), g.data(), 0.01f);
  // two steps with the same gradient, by hand (double)
  for (std::size_t k : {std::size_t(0), std::size_t(2)}) {  // embeddings (decayed), attn_norm (not)
    const index_t i = L.offsets[k] + 5;
    const bool decayed = L.decayed(k);
    double x = p0.data()[i], m = 0, v = 0;
    const double gi = g.data()[i];
    for (int t = 1; t <= 2; ++t) {
      if (decayed) x *= 1.0 - 0.01 * 0.1;
      m = 0.9 * m + 0.1 * gi;
      v = 0.95 * v + 0.05 * gi * gi;
      x -= 0.01 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.95, t))) + 1e-8);
    }
    CHECK(std::fabs(p.data()[i] - x) < 1e-6);
  }
  CHECK(L.decayed(0));
  CHECK_FALSE(L.decayed(std::size_t(L.index_of("model.lower_bounds"))));
  // clipping to norm 0.5
  const double before = train::clip_grad_norm(pool, L, g.data(), 0.5);
  CHECK(before > 0.5);
  CHECK(std::fabs(train::grad_norm(L, g.data()) - 0.5) < 1e-4);
}

TEST_CASE("training lowers the loss and is deterministic for a seed and thread count", "[train][determinism]") {
  const ModelConfig c = small_config();
  const auto stream = pattern_stream(2000, c.vocab_size);
  auto run = [&](int threads, index_t steps, std::vector<double>* losses) {
    train::ThreadPool pool(threads);
    train::Network net(c, pool, {.grain = 1});  // split every loop and product over the threads
    train::ParamBuffer p(net.layout());
    train::init_parameters(net.layout(), p, 5);
    train::Trainer tr(net, p, stream, small_options(steps));
    for (index_t s = 0; s < steps; ++s) {
      const auto r = tr.step();
      if (losses) losses->push_back(r.loss);
    }
    return std::vector<float>(p.data(), p.data() + p.size());
  };
  std::vector<double> losses;
  const auto a = run(2, 40, &losses);
  const auto b = run(2, 40, nullptr);
  CHECK(a == b);  // bit for bit
  INFO("first loss " << losses.front() << ", last " << losses.back());
  CHECK(losses.front() > 3.0);  // about ln(29) at the start
  CHECK(losses.back() < 0.6 * losses.front());
  const auto one = run(1, 40, nullptr);  // another thread count: still training the same way
  double diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::fabs(a[i] - one[i])));
  CHECK(diff < 0.05);
}

TEST_CASE("a checkpoint loads into the inference model and resumes the run exactly", "[train][checkpoint]") {
  const ModelConfig c = small_config();
  const auto stream = pattern_stream(2000, c.vocab_size);
  const auto dir = temp_dir("ckpt");
  train::ThreadPool pool(2);
  train::Network net(c, pool);
  const auto& L = net.layout();

  // straight run of 12 steps
  train::ParamBuffer straight(L);
  train::init_parameters(L, straight, 5);
  {
    train::Trainer tr(net, straight, stream, small_options(12));
    for (int s = 0; s < 12; ++s) tr.step();
  }
  // 7 steps, save, a fresh trainer resumes and does the other 5
  train::ParamBuffer p(L);
  train::init_parameters(L, p, 5);
  {
    train::Trainer tr(net, p, stream, small_options(12));
    for (int s = 0; s < 7; ++s) tr.step();
    tr.save(dir, {{"note", "seven"}});
  }
  REQUIRE(std::filesystem::exists(dir / "config.json"));
  REQUIRE(std::filesystem::exists(dir / "model.safetensors"));
  REQUIRE(std::filesystem::exists(dir / train::optimizer_file_name));
  CHECK_FALSE(std::filesystem::exists(dir.string() + ".tmp"));
  train::ParamBuffer q(L);
  train::Trainer tr(net, q, stream, small_options(12));
  const auto extra = tr.resume(dir);
  CHECK(extra.at("note") == "seven");
  CHECK(tr.steps_done() == 7);
  for (int s = 0; s < 5; ++s) tr.step();
  CHECK(std::equal(q.data(), q.data() + q.size(), straight.data()));

  // the saved model through mmfree's own loader: the inference model computes the trainer's forward
  train::ParamBuffer saved(L);
  train::load_parameters(L, io::Checkpoint::open(dir), saved);
  const std::vector<std::int32_t> ids(stream.begin(), stream.begin() + 3 * 20);
  std::vector<float> ours(ids.size() * std::size_t(c.vocab_size)), inf(ours.size());
  net.forward_logits(saved.data(), ids, 3, ours);
  {
    using Int8 = Policy<packing::I2, act::Int8, backend::Serial>;
    Model<Int8> model(io::load_checkpoint<packing::I2>(dir));
    auto ws = model.make_workspace({.max_batch = 3, .max_chunk = 8});
    auto st = model.make_state(3);
    model.prefill(ws, st, ids, 3, inf, Logits::all);
    CHECK(max_rel(ours, inf) == 0.0);
  }
  {
    using Fq = Policy<packing::TQ1, act::FakeQuant, backend::Serial>;
    Model<Fq> model(io::load_checkpoint<packing::TQ1>(dir));
    auto ws = model.make_workspace({.max_batch = 3, .max_chunk = 20});
    auto st = model.make_state(3);
    model.prefill(ws, st, ids, 3, inf, Logits::all);
    CHECK(max_rel(ours, inf) < 1e-5);
  }
  // a corrupted optimizer state is refused by name
  {
    const auto bad = temp_dir("bad");
    std::filesystem::copy(dir, bad);
    io::write_safetensors(bad / train::optimizer_file_name, {}, {{"format", "something-else"}});
    train::ParamBuffer r(L);
    train::Trainer t2(net, r, stream, small_options(12));
    CHECK_THROWS_WITH(t2.resume(bad), Catch::Matchers::ContainsSubstring("optimizer"));
    std::filesystem::remove_all(bad);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("training refuses what it cannot do, naming it", "[train][errors]") {
  ModelConfig c = small_config();
  train::ThreadPool pool(1);
  train::Network net(c, pool);
  train::ParamBuffer p(net.layout()), g(net.layout());
  const std::vector<std::int32_t> ids = {1, 2, 3, 4};
  CHECK_THROWS_WITH(net.forward_backward(p.data(), ids, std::vector<std::int32_t>{1, 2, 3, 29}, 1, g.data()),
                    Catch::Matchers::ContainsSubstring("target 29"));
  CHECK_THROWS_WITH(net.forward_backward(p.data(), std::vector<std::int32_t>{1, 2, 99, 4}, ids, 1, g.data()),
                    Catch::Matchers::ContainsSubstring("token id 99"));
  CHECK_THROWS_WITH(net.forward_backward(p.data(), ids, ids, 3, g.data()),
                    Catch::Matchers::ContainsSubstring("do not split"));
  c.tie_word_embeddings = true;
  CHECK_THROWS_WITH(train::ParamLayout::of(c), Catch::Matchers::ContainsSubstring("tie_word_embeddings"));
  CHECK_THROWS_WITH(train::Batcher(ids, 4, 1), Catch::Matchers::ContainsSubstring("fewer than one window"));
  CHECK_THROWS_WITH(train::ThreadPool(0), Catch::Matchers::ContainsSubstring("thread count"));
}
