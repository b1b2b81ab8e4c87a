// SPDX-License-Identifier: MIT
// The README's embedding example: load a checkpoint, read a prompt's logits, decode greedily.
#include <algorithm>
#include <cstdio>
#include <vector>

#include <mmfree/mmfree.hpp>

int main(int argc, char** argv) try {
  if (argc < 2) return std::fprintf(stderr, "usage: embed_example CHECKPOINT_DIR\n"), 2;
  using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::Int8, mmfree::backend::Serial>;
  mmfree::Model<Pol> model(mmfree::load_checkpoint<mmfree::packing::I2>(argv[1]));
  auto ws = model.make_workspace();   // scratch, allocated once
  auto state = model.make_state(1);   // L x H floats per sequence, whatever the context length
  std::vector<float> logits(model.config().vocab_size);
  std::vector<std::int32_t> prompt = {1, 2, 3};
  model.prefill(ws, state, prompt, 1, logits, mmfree::Logits::last);
  for (int i = 0; i < 8; ++i) {
    const std::int32_t next = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    std::printf("%d ", next);
    model.step(ws, state, {&next, 1}, logits);  // one token: no allocation, constant memory
  }
  std::printf("\n");
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
