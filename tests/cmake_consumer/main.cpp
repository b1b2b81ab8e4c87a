// SPDX-License-Identifier: MIT
// Downstream smoke test: load a checkpoint and decode one token (and, with mmfree::simd, the same
// token on backend::Simd with two threads, which must give the same logits).
#include <cstdio>
#include <vector>

#include <mmfree/mmfree.hpp>

template <class B>
std::vector<float> decode_one(const char* dir, typename B::context_type ctx = {}) {
  using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::Int8, B>;
  mmfree::Model<Pol> model(mmfree::load_checkpoint<mmfree::packing::I2>(dir));
  auto ws = model.make_workspace({}, std::move(ctx));
  auto state = model.make_state(1);
  std::vector<float> logits(std::size_t(model.config().vocab_size));
  const std::int32_t id = 1;
  model.step(ws, state, {&id, 1}, logits);
  return logits;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const auto logits = decode_one<mmfree::backend::Serial>(argv[1]);
#if MMFREE_HAS_SIMD
  if (decode_one<mmfree::backend::Simd>(argv[1], mmfree::backend::Simd::context_type(2)) != logits) {
    std::printf("consumer: backend::Simd differs from backend::Serial\n");
    return 1;
  }
  std::printf("consumer ok: %zu logits (serial and simd)\n", logits.size());
#else
  std::printf("consumer ok: %zu logits\n", logits.size());
#endif
  return 0;
}
