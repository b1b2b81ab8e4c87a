// SPDX-License-Identifier: MIT
// packing::I8: one signed byte per ternary weight. The unpacked reference layout.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN
namespace packing {

/// \brief Unpacked reference packing: weight k of a row is the int8 at byte k (-1, 0 or +1).
///
/// Rows are padded with zeros to a multiple of 32 weights so SIMD kernels can read whole vectors.
struct I8 {
  static constexpr std::string_view name() { return "i8"; }
  static constexpr index_t block_k = 32;      ///< weights per block
  static constexpr index_t block_bytes = 32;  ///< bytes per block

  /// Packs `k` ternary codes into one row of row_bytes(k) bytes.
  static void pack_row(const std::int8_t* t, index_t k, std::uint8_t* out) {
    const index_t bytes = (k + block_k - 1) / block_k * block_bytes;
    std::memset(out, 0, std::size_t(bytes));
    std::memcpy(out, t, std::size_t(k));
  }
  /// Ternary value of weight `k` of a packed row.
  MMFREE_HOST_DEVICE static int decode(const std::uint8_t* row, index_t k) { return int(std::int8_t(row[k])); }
};

}  // namespace packing
MMFREE_NAMESPACE_END
