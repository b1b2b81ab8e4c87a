// SPDX-License-Identifier: MIT
// Builds the tests against Catch2 v2 (Debian's single header) or v3.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <string>

#include <catch2/catch.hpp>
namespace Catch::Matchers {
/// v3's name for v2's string Contains matcher.
inline auto ContainsSubstring(const std::string& s) { return Contains(s); }
}  // namespace Catch::Matchers
#endif
