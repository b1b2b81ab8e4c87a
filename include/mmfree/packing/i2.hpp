// SPDX-License-Identifier: MIT
// packing::I2: 2 bits per ternary weight, 4 weights a byte, in blocks laid out for SIMD unpacking.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN
namespace packing {

/// \brief 2-bit packing: code = t + 1 in {0, 1, 2}.
///
/// A row is cut into blocks of 128 weights stored in 32 bytes. Byte j of a block holds weights
/// j, j+32, j+64 and j+96 of the block in bits 0-1, 2-3, 4-5 and 6-7. So one 32-byte load,
/// shifted by 0/2/4/6 and masked with 3, yields four vectors of 32 consecutive codes (AVX2), and
/// a 16-byte half does the same for 16 (NEON). The tail of the last block holds code 1 (zero).
/// Kernels compute sum(q * code) - sum(q), which is the ternary dot product.
struct I2 {
  static constexpr std::string_view name() { return "i2"; }
  static constexpr index_t block_k = 128;
  static constexpr index_t block_bytes = 32;

  static void pack_row(const std::int8_t* t, index_t k, std::uint8_t* out) {
    if (k <= 0) return;  // (also tells g++ that the size below is not negative)
    const index_t blocks = (k + block_k - 1) / block_k;
    std::memset(out, 0x55, std::size_t(blocks * block_bytes));  // every code 1: weight 0
    for (index_t i = 0; i < k; ++i) {
      const index_t b = i / block_k, r = i % block_k;
      const index_t j = r % 32, s = r / 32;
      std::uint8_t& byte = out[b * block_bytes + j];
      byte = std::uint8_t((byte & ~(3u << (2 * s))) | (unsigned(t[i] + 1) << (2 * s)));
    }
  }
  MMFREE_HOST_DEVICE static int decode(const std::uint8_t* row, index_t k) {
    const index_t b = k / block_k, r = k % block_k;
    return int((row[b * block_bytes + r % 32] >> (2 * (r / 32))) & 3u) - 1;
  }
};

}  // namespace packing
MMFREE_NAMESPACE_END
