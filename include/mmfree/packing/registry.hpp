// SPDX-License-Identifier: MIT
// Run-time choice among the packings mmfree ships, by name (files record P::name()).
#pragma once

#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "i2.hpp"
#include "i8.hpp"
#include "tq1.hpp"

MMFREE_NAMESPACE_BEGIN
namespace packing {

/// \brief Calls f(P{}) for the packing called `name` ("i8", "i2", "tq1"); throws mmfree::Error
/// for any other name.
template <class F>
decltype(auto) with_packing(std::string_view name, F&& f) {
  if (name == I8::name()) return f(I8{});
  if (name == I2::name()) return f(I2{});
  if (name == TQ1::name()) return f(TQ1{});
  throw Error("unknown weight packing '" + std::string(name) + "' (i8, i2, tq1)");
}

}  // namespace packing
MMFREE_NAMESPACE_END
