// SPDX-License-Identifier: MIT
// Reads a SentencePiece `tokenizer.model` (a serialized ModelProto) without the SentencePiece or
// protobuf libraries: a small, bounds-checked protobuf wire-format reader that keeps only the
// fields a BPE tokenizer needs.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "tokenizer_spec.hpp"
#include "utf8.hpp"

MMFREE_NAMESPACE_BEGIN
namespace text {

namespace detail {

/// Protobuf wire-format cursor over [p, end); every read is bounds-checked.
class ProtoReader {
 public:
  ProtoReader(const std::uint8_t* p, const std::uint8_t* end, const std::string& file) : p_(p), end_(end), file_(file) {}

  bool done() const { return p_ >= end_; }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail("truncated varint");
      const std::uint8_t b = *p_++;
      v |= std::uint64_t(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("varint longer than 10 bytes");
  }
  /// Next field: number and wire type.
  void tag(std::uint32_t& field, std::uint32_t& wire) {
    const std::uint64_t t = varint();
    field = std::uint32_t(t >> 3);
    wire = std::uint32_t(t & 7);
    if (field == 0) fail("field number 0");
  }
  /// Length-delimited payload as a sub-range.
  std::string_view bytes() {
    const std::uint64_t n = varint();
    if (n > std::uint64_t(end_ - p_)) fail("length-delimited field runs past the end of the data");
    std::string_view s(reinterpret_cast<const char*>(p_), std::size_t(n));
    p_ += n;
    return s;
  }
  float fixed32_float() {
    if (end_ - p_ < 4) fail("truncated fixed32");
    std::uint32_t u = std::uint32_t(p_[0]) | std::uint32_t(p_[1]) << 8 | std::uint32_t(p_[2]) << 16 | std::uint32_t(p_[3]) << 24;
    p_ += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(std::uint32_t wire) {
    switch (wire) {
      case 0: (void)varint(); return;
      case 1:
        if (end_ - p_ < 8) fail("truncated fixed64");
        p_ += 8;
        return;
      case 2: (void)bytes(); return;
      case 5:
        if (end_ - p_ < 4) fail("truncated fixed32");
        p_ += 4;
        return;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }
  void expect(std::uint32_t wire, std::uint32_t want, const char* field) {
    if (wire != want) fail(std::string("field '") + field + "' has wire type " + std::to_string(wire));
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("'" + file_ + "': not a valid SentencePiece model (" + what + ")");
  }
  const std::string& file() const { return file_; }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
  const std::string& file_;
};

inline ProtoReader sub_reader(const ProtoReader& r, std::string_view s) {
  const auto* b = reinterpret_cast<const std::uint8_t*>(s.data());
  return ProtoReader(b, b + s.size(), r.file());
}

}  // namespace detail

/// \brief Parses the bytes of a SentencePiece ModelProto (BPE with identity normalisation);
/// `file` names it in error messages. Throws mmfree::Error for malformed data and for models this
/// engine does not run (unigram, custom normalisation rules).
inline TokenizerSpec parse_sentencepiece_model(const std::uint8_t* data, std::size_t size, const std::string& file) {
  TokenizerSpec s;
  s.flavour = TokenizerFlavour::sentencepiece;
  detail::ProtoReader r(data, data + size, file);
  std::string norm_name, charsmap;
  int model_type = 1;  // proto default: UNIGRAM
  bool treat_ws_as_suffix = false;
  std::string unk_piece = "<unk>", bos_piece = "<s>", eos_piece = "</s>";
  bool saw_trainer = false;
  while (!r.done()) {
    std::uint32_t field, wire;
    r.tag(field, wire);
    if (field == 1) {  // SentencePiece pieces
      r.expect(wire, 2, "pieces");
      auto pr = detail::sub_reader(r, r.bytes());
      std::string piece;
      float score = 0.0f;
      std::uint64_t type = 1;
      while (!pr.done()) {
        std::uint32_t f, w;
        pr.tag(f, w);
        if (f == 1) {
          pr.expect(w, 2, "piece");
          piece = std::string(pr.bytes());
        } else if (f == 2) {
          pr.expect(w, 5, "score");
          score = pr.fixed32_float();
        } else if (f == 3) {
          pr.expect(w, 0, "type");
          type = pr.varint();
        } else {
          pr.skip(w);
        }
      }
      if (type < 1 || type > 6) r.fail("piece " + std::to_string(s.pieces.size()) + " has unknown type " + std::to_string(type));
      if (s.pieces.size() >= (std::size_t(1) << 24)) r.fail("more than 2^24 pieces");
      s.pieces.push_back(std::move(piece));
      s.scores.push_back(score);
      s.types.push_back(PieceType(type));
    } else if (field == 2) {  // TrainerSpec
      r.expect(wire, 2, "trainer_spec");
      saw_trainer = true;
      auto tr = detail::sub_reader(r, r.bytes());
      while (!tr.done()) {
        std::uint32_t f, w;
        tr.tag(f, w);
        switch (f) {
          case 3: tr.expect(w, 0, "model_type"); model_type = int(tr.varint() & 0xff); break;
          case 24: tr.expect(w, 0, "treat_whitespace_as_suffix"); treat_ws_as_suffix = tr.varint() != 0; break;
          case 35: tr.expect(w, 0, "byte_fallback"); s.byte_fallback = tr.varint() != 0; break;
          case 44: tr.expect(w, 2, "unk_surface"); s.unk_surface = std::string(tr.bytes()); break;
          case 45: tr.expect(w, 2, "unk_piece"); unk_piece = std::string(tr.bytes()); break;
          case 46: tr.expect(w, 2, "bos_piece"); bos_piece = std::string(tr.bytes()); break;
          case 47: tr.expect(w, 2, "eos_piece"); eos_piece = std::string(tr.bytes()); break;
          default: tr.skip(w);
        }
      }
    } else if (field == 3) {  // NormalizerSpec
      r.expect(wire, 2, "normalizer_spec");
      auto nr = detail::sub_reader(r, r.bytes());
      while (!nr.done()) {
        std::uint32_t f, w;
        nr.tag(f, w);
        switch (f) {
          case 1: nr.expect(w, 2, "name"); norm_name = std::string(nr.bytes()); break;
          case 2: nr.expect(w, 2, "precompiled_charsmap"); charsmap = std::string(nr.bytes()); break;
          case 3: nr.expect(w, 0, "add_dummy_prefix"); s.add_dummy_prefix = nr.varint() != 0; break;
          case 4: nr.expect(w, 0, "remove_extra_whitespaces"); s.remove_extra_whitespaces = nr.varint() != 0; break;
          case 5: nr.expect(w, 0, "escape_whitespaces"); s.escape_whitespaces = nr.varint() != 0; break;
          default: nr.skip(w);
        }
      }
    } else {
      r.skip(wire);
    }
  }
  if (s.pieces.empty()) r.fail("no pieces");
  if (!saw_trainer) r.fail("no trainer_spec");
  if (model_type != 2)
    throw Error("'" + file + "': SentencePiece model type " + std::to_string(model_type) +
                " is not supported (only BPE, type 2)");
  if (!charsmap.empty())
    throw Error("'" + file + "': SentencePiece normalization rule '" + norm_name +
                "' (a precompiled character map) is not supported; only 'identity'");
  if (treat_ws_as_suffix) throw Error("'" + file + "': treat_whitespace_as_suffix is not supported");

  // Ids of the named pieces the way SentencePieceProcessor finds them.
  for (std::size_t i = 0; i < s.pieces.size(); ++i) {
    const std::int32_t id = std::int32_t(i);
    if (s.types[i] == PieceType::unknown) {
      if (s.unk_id >= 0) r.fail("more than one unknown piece");
      s.unk_id = id;
    }
    if (s.types[i] == PieceType::control && s.pieces[i] == bos_piece && s.bos_id < 0) s.bos_id = id;
    if (s.types[i] == PieceType::control && s.pieces[i] == eos_piece && s.eos_id < 0) s.eos_id = id;
    if (s.types[i] == PieceType::byte && byte_of_piece_name(s.pieces[i]) < 0)
      r.fail("byte piece '" + s.pieces[i] + "' is not named <0xHH>");
  }
  (void)unk_piece;
  if (s.unk_id < 0) r.fail("no unknown piece");
  return s;
}

}  // namespace text
MMFREE_NAMESPACE_END
