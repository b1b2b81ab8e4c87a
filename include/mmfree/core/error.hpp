// SPDX-License-Identifier: MIT
// The one exception type mmfree throws. Messages name the file, tensor or value at fault.
#pragma once

#include <stdexcept>
#include <string>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Every failure mmfree reports (bad file, bad shape, bad config, bad token id...).
///
/// The message is meant for a person: it names the file, tensor, key or value that is wrong.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error("mmfree: " + what) {}
};

/// \brief Throws mmfree::Error with `what` unless `ok`. (The const char* overload keeps the
/// success path free of allocations; build std::string messages only on failure.)
inline void check(bool ok, const char* what) {
  if (!ok) throw Error(what);
}
inline void check(bool ok, const std::string& what) {
  if (!ok) throw Error(what);
}

MMFREE_NAMESPACE_END
