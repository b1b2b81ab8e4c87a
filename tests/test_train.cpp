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
