// SPDX-License-Identifier: MIT
// Everything a BPE tokenizer of the SentencePiece family needs, independent of the file it came
// from (tokenizer.model or tokenizer.json). The loaders fill it; text::Tokenizer runs it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace text {

/// SentencePiece piece types (values as in sentencepiece_model.proto).
enum class PieceType : std::uint8_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

/// Whose rules encode() and decode() follow.
enum class TokenizerFlavour : std::uint8_t {
  sentencepiece,  ///< tokenizer.model: merges by piece score, SentencePiece normaliser and decoder
  huggingface     ///< tokenizer.json: merges by rank, HF normalizers / pre-tokenizer / decoders
};

/// A Hugging Face "added token" (split out of the text before the model runs).
struct AddedToken {
  std::string content;
  std::int32_t id = -1;
  bool special = false;     ///< skipped by decode()
  bool normalized = false;  ///< matched in the normalised text instead of the raw text
  bool lstrip = false;      ///< also swallows whitespace on its left
  bool rstrip = false;      ///< also swallows whitespace on its right
};

/// One step of a Hugging Face normalizer Sequence.
struct NormalizerStep {
  enum class Kind : std::uint8_t { prepend, replace } kind = Kind::prepend;
  std::string a;  ///< prepend: the prefix; replace: the pattern
  std::string b;  ///< replace: the replacement
};

/// One step of a Hugging Face decoder Sequence.
struct DecoderStep {
  enum class Kind : std::uint8_t { replace, byte_fallback, fuse, strip, metaspace } kind = Kind::fuse;
  std::string a, b;         ///< replace: pattern, content; strip: the character; metaspace: replacement
  int start = 0, stop = 0;  ///< strip: characters removed at each end
  bool prepend = true;      ///< metaspace: prepend_scheme != never
};

/// The Metaspace pre-tokenizer of a tokenizer.json.
struct Metaspace {
  bool present = false;
  std::string replacement = "\xE2\x96\x81";
  enum class Prepend : std::uint8_t { always, first, never } prepend = Prepend::always;
  bool split = true;
};

/// \brief A BPE tokenizer with byte fallback, as loaded from a file.
struct TokenizerSpec {
  TokenizerFlavour flavour = TokenizerFlavour::sentencepiece;
  std::vector<std::string> pieces;  ///< id -> piece (empty string for ids a file leaves out)
  std::vector<float> scores;        ///< sentencepiece: merge priority (higher first)
  std::vector<PieceType> types;     ///< id -> type
  std::int32_t unk_id = -1, bos_id = -1, eos_id = -1;
  bool byte_fallback = false;

  // SentencePiece normaliser (identity rules only).
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string unk_surface = " \xE2\x81\x87 ";

  // Hugging Face pipeline.
  std::vector<NormalizerStep> normalizer;
  Metaspace pre_tokenizer;
  std::vector<std::uint8_t> in_model_vocab;  ///< 1 for ids of model.vocab (added tokens may not be)
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;  ///< rank -> (left id, right id)
  bool fuse_unk = false;
  bool ignore_merges = false;
  std::vector<AddedToken> added_tokens;
  bool has_decoder = false;
  std::vector<DecoderStep> decoder;
};

}  // namespace text
MMFREE_NAMESPACE_END
