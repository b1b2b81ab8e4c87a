// SPDX-License-Identifier: MIT
// Downstream smoke test: load a checkpoint and decode one token.
#include <cstdio>
#include <vector>

#include <mmfree/mmfree.hpp>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::Int8, mmfree::backend::Serial>;
  mmfree::Model<Pol> model(mmfree::load_checkpoint<mmfree::packing::I2>(argv[1]));
  auto ws = model.make_workspace();
  auto state = model.make_state(1);
  std::vector<float> logits(std::size_t(model.config().vocab_size));
  const std::int32_t id = 1;
  model.step(ws, state, {&id, 1}, logits);
  std::printf("consumer ok: %zu logits\n", logits.size());
  return 0;
}
