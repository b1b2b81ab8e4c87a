// SPDX-License-Identifier: MIT
// libFuzzer target: any bytes as text through the golden tokenizers (SentencePiece and both
// tokenizer.json flavours): encode, decode and stream-decode must not crash, stream output must
// be valid UTF-8, and text that is valid UTF-8 without special tokens must round-trip exactly
// through the SentencePiece model.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <mmfree/text/tokenizer.hpp>

#ifndef MMFREE_GOLDEN_DIR
#error "MMFREE_GOLDEN_DIR must point at the golden data"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mmfree::text::Tokenizer;
  static const Tokenizer toks[3] = {Tokenizer::load(MMFREE_GOLDEN_DIR "/tokenizer/tokenizer.model"),
                                    Tokenizer::load(MMFREE_GOLDEN_DIR "/tokenizer/json_legacy/tokenizer.json"),
                                    Tokenizer::load(MMFREE_GOLDEN_DIR "/tokenizer/json_modern/tokenizer.json")};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& tok : toks) {
    const auto ids = tok.encode(text, true);
    const std::string back = tok.decode(ids);
    mmfree::text::StreamDecoder sd(tok);
    for (auto id : ids)
      if (!mmfree::text::utf8_is_valid(sd.push(id))) std::abort();
    if (tok.flavour() == mmfree::text::TokenizerFlavour::sentencepiece && mmfree::text::utf8_is_valid(text) &&
        text.find("\xE2\x96\x81") == std::string_view::npos && !text.empty() && text[0] != ' ' && back != text)
      std::abort();  // identity normaliser + byte fallback: exact round trip
  }
  return 0;
}
