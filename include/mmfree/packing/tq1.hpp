// SPDX-License-Identifier: MIT
// packing::TQ1: base-3 packing, 5 ternary weights a byte (1.6 bits a weight).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN
namespace packing {

/// \brief Base-3 packing: 5 digits d = t + 1 in {0,1,2} a byte.
///
/// A row is cut into blocks of 160 weights stored in 32 bytes. Byte j of a block holds weights
/// j + 32*s (s = 0..4) as the base-3 number v = sum_s d_s * 3^(4-s), stored as
/// ceil(v * 256 / 243). Digit s then comes out without division: m = uint8(byte * 3^s),
/// d_s = (m * 3) >> 8 (the same trick as llama.cpp's TQ1_0); one 32-byte load yields five
/// vectors of 32 consecutive codes. The tail of the last block holds digit 1 (weight 0).
struct TQ1 {
  static constexpr std::string_view name() { return "tq1"; }
  static constexpr index_t block_k = 160;
  static constexpr index_t block_bytes = 32;

  /// 3^s for s = 0..4, the multipliers that bring digit s to the top of the byte.
  MMFREE_HOST_DEVICE static constexpr std::uint8_t pow3(index_t s) {
    return std::uint8_t(s == 0 ? 1 : s == 1 ? 3 : s == 2 ? 9 : s == 3 ? 27 : 81);
  }

  static void pack_row(const std::int8_t* t, index_t k, std::uint8_t* out) {
    const index_t blocks = (k + block_k - 1) / block_k;
    for (index_t b = 0; b < blocks; ++b) {
      for (index_t j = 0; j < 32; ++j) {
        unsigned v = 0;
        for (index_t s = 0; s < 5; ++s) {
          const index_t i = b * block_k + s * 32 + j;
          const unsigned d = i < k ? unsigned(t[i] + 1) : 1u;
          v = v * 3u + d;
        }
        out[b * block_bytes + j] = std::uint8_t((v * 256u + 242u) / 243u);
      }
    }
  }
  MMFREE_HOST_DEVICE static int decode(const std::uint8_t* row, index_t k) {
    const index_t b = k / block_k, r = k % block_k;
    const std::uint8_t m = std::uint8_t(row[b * block_bytes + r % 32] * pow3(r / 32));
    return int((unsigned(m) * 3u) >> 8) - 1;
  }
};

}  // namespace packing
MMFREE_NAMESPACE_END
