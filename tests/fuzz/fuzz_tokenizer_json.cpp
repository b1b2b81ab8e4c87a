// SPDX-License-Identifier: MIT
// libFuzzer target: a Hugging Face tokenizer.json must load or throw mmfree::Error; a loaded one
// must encode and decode without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <mmfree/text/tokenizer.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto spec = mmfree::text::parse_tokenizer_json(std::string_view(reinterpret_cast<const char*>(data), size), "tokenizer.json");
    auto tok = mmfree::text::Tokenizer::from_spec(std::move(spec), "tokenizer.json");
    const auto ids = tok.encode("Hello  world <s>\xF0\x9F\x99\x82 caf\xC3\xA9 \xFF</s>", false);
    (void)tok.decode(ids);
    std::vector<std::int32_t> all;
    for (std::int32_t i = 0; i < tok.vocab_size() && i < 64; ++i) all.push_back(i);
    (void)tok.decode(all);
    mmfree::text::StreamDecoder sd(tok);
    for (auto id : all) (void)sd.push(id);
  } catch (const mmfree::Error&) {
  }
  return 0;
}
