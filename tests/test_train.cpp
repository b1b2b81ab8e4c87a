// SPDX-License-Identifier: MIT
// Training: gradients against upstream's own backward (golden tiny-a) and against finite
// differences, the forward against the inference model, optimizer, schedule, checkpoints.
#include <cmath>
#include <cstdio>
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
  for (int threads : {1, 2}) {
    train::ThreadPool pool(threads);
    train::Network net(ck.config(), pool);
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
  train::ThreadPool pool(2);
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
