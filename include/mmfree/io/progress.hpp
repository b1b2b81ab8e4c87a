// SPDX-License-Identifier: MIT
// Progress reporting for long operations (conversion, writing a model file).
#pragma once

#include <functional>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// Called with the fraction done, in [0, 1]; may be empty.
using ProgressFn = std::function<void(double)>;

}  // namespace io
MMFREE_NAMESPACE_END
