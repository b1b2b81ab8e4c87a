// SPDX-License-Identifier: MIT
// act::FakeQuant: the same int8 grid, carried as floats and accumulated in f32 (training-style).
#pragma once

#include <cstdint>
#include <string_view>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace act {

/// \brief Fake quantisation: inputs are rounded to the int8 grid but multiplied as f32 values
/// (q / s_a) * (t / w_scale) and summed in f32, as upstream's PyTorch training forward does.
///
/// Differs from act::Int8 only by f32 rounding of the sums (about 1e-7 relative).
struct FakeQuant {
  static constexpr std::string_view name() { return "fq32"; }
  using code_type = std::int8_t;
  using accum_type = float;
  static constexpr bool integer_accumulation = false;
};

}  // namespace act
MMFREE_NAMESPACE_END
