// SPDX-License-Identifier: MIT
// UTF-8 helpers shared by the tokenizers: character lengths, validation the way SentencePiece and
// the Hugging Face library see it, and byte-piece names ("<0x0A>").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace text {

/// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space.
inline constexpr std::string_view kMetaSpace = "\xE2\x96\x81";
/// U+FFFD REPLACEMENT CHARACTER.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

/// Length of the UTF-8 sequence a lead byte announces (1 for stray continuation bytes), as
/// SentencePiece's OneCharLen computes it.
constexpr std::size_t utf8_lead_len(unsigned char c) {
  constexpr unsigned char table[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return table[c >> 4];
}

/// \brief Length of the valid UTF-8 character at the start of `s`, or 0 when the bytes there are
/// not a well-formed character (truncated, overlong, surrogate, beyond U+10FFFF).
constexpr std::size_t utf8_valid_len(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

/// \brief Appends `bytes` to `out`, replacing each byte that does not start a valid character
/// with U+FFFD (what both SentencePiece and the Hugging Face ByteFallback decoder do for a run of
/// byte pieces that is not valid UTF-8, one replacement per offending byte).
inline void append_utf8_replacing(std::string& out, std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t n = utf8_valid_len(bytes);
    if (n == 0) {
      out.append(kReplacementChar);
      bytes.remove_prefix(1);
    } else {
      out.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
    }
  }
}

/// True when all of `s` is well-formed UTF-8.
constexpr bool utf8_is_valid(std::string_view s) {
  while (!s.empty()) {
    const std::size_t n = utf8_valid_len(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

/// "<0x0A>": the name of the byte-fallback piece of byte `b` (upper-case hex digits).
inline std::string byte_piece_name(unsigned char b) {
  constexpr char hex[] = "0123456789ABCDEF";
  std::string s = "<0x00>";
  s[3] = hex[b >> 4];
  s[4] = hex[b & 15];
  return s;
}

/// The byte a piece named "<0xHH>" stands for, or -1.
constexpr int byte_of_piece_name(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = digit(p[3]), lo = digit(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/// Replaces every occurrence of `from` (non-empty) in `s` with `to`.
inline std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) return std::string(s);
  out.reserve(s.size());
  std::size_t pos = 0;
  for (;;) {
    const std::size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

}  // namespace text
MMFREE_NAMESPACE_END
