// SPDX-License-Identifier: MIT
// Downstream use of the training component (mmfree::train): one optimizer step on a tiny model.
#include <cstdio>
#include <vector>

#include <mmfree/train.hpp>

int main() {
  mmfree::ModelConfig c;
  c.vocab_size = 11, c.hidden_size = 8, c.num_layers = 1, c.intermediate_size = 16;
  mmfree::train::ThreadPool pool(1);
  mmfree::train::Network net(c, pool);
  mmfree::train::ParamBuffer params(net.layout());
  mmfree::train::init_parameters(net.layout(), params, 1);
  std::vector<std::int32_t> stream(64);
  for (std::size_t i = 0; i < stream.size(); ++i) stream[i] = std::int32_t(i % 11);
  mmfree::train::Trainer trainer(net, params, stream, {.batch = 2, .seq_len = 8});
  std::printf("consumer train ok: loss %.3f\n", trainer.step().loss);
  return 0;
}
