// SPDX-License-Identifier: MIT
// The README's generation example: a packed model and its tokenizer, a Session that a game loop
// gives at most 2 ms a frame, text streamed as it comes.
#include <chrono>
#include <cstdio>
#include <string_view>

#include <mmfree/mmfree.hpp>

int main(int argc, char** argv) try {
  if (argc < 2) return std::fprintf(stderr, "usage: generate_example MODEL_DIR (e.g. models/kjv)\n"), 2;
  const std::string dir = argv[1];
  using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::Int8, mmfree::backend::Serial>;
  mmfree::Model<Pol> model(mmfree::load_weights<mmfree::packing::I2>(dir + "/model.mmfree"));  // mapped, no copy
  const auto tok = mmfree::text::Tokenizer::load(dir + "/tokenizer.model");
  mmfree::Session<Pol> session(model, {.batch = 1}, &tok);  // state, scratch, sampler: allocated once
  session.configure(0, {.sampling = {.temperature = 0.7f, .seed = 42}, .max_tokens = 60, .stop = {"\n"}});
  session.prefill(0, "And God said");
  std::printf("And God said");
  int frames = 0;
  while (session.active(0)) {  // one iteration = one frame of a game loop
    ++frames;
    session.generate(1000, std::chrono::microseconds(2000),  // at most ~2 ms of work per frame
                     [](mmfree::index_t, std::int32_t, std::string_view text) {
                       std::printf("%.*s", int(text.size()), text.data());
                     });
  }
  std::printf("\n(%d frames)\n", frames);
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
