// SPDX-License-Identifier: MIT
// libFuzzer target: a SentencePiece tokenizer.model (protobuf) must load or throw mmfree::Error;
// a loaded one must encode and decode without crashing.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <mmfree/text/tokenizer.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto spec = mmfree::text::parse_sentencepiece_model(data, size, "tokenizer.model");
    auto tok = mmfree::text::Tokenizer::from_spec(std::move(spec), "tokenizer.model");
    const auto ids = tok.encode("Hello  world <s>\xF0\x9F\x99\x82 caf\xC3\xA9 \xFF", true);
    (void)tok.decode(ids);
    std::vector<std::int32_t> all;
    for (std::int32_t i = 0; i < tok.vocab_size() && i < 64; ++i) all.push_back(i);
    (void)tok.decode(all);
  } catch (const mmfree::Error&) {
  }
  return 0;
}
