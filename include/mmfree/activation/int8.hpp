// SPDX-License-Identifier: MIT
// act::Int8: per-token absmax int8 activations with exact integer accumulation (upstream numerics).
#pragma once

#include <cstdint>
#include <string_view>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace act {

/// \brief Per-token absmax int8 activations, int32 accumulation, one float rescale per output.
///
/// The integer dot product is exact, so every backend that implements this policy returns the
/// same bits. This is what the checkpoints were trained for (model-spec.md, BitLinear).
struct Int8 {
  static constexpr std::string_view name() { return "int8"; }
  using code_type = std::int8_t;
  using accum_type = std::int32_t;
  static constexpr bool integer_accumulation = true;
};

}  // namespace act
MMFREE_NAMESPACE_END
