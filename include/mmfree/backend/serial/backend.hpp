// SPDX-License-Identifier: MIT
// backend::Serial: plain scalar C++ on one thread. The oracle every other backend is tested against.
#pragma once

#include <string_view>

#include "../../core/buffer.hpp"
#include "../../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace backend {

/// \brief The reference backend: one thread, no SIMD, host memory.
struct Serial {
  static constexpr std::string_view name() { return "serial"; }
  using memory_space = HostSpace;
  /// Serial kernels need no run-time state.
  struct context_type {
    /// Runs `f` (backends that record graphs capture it instead; here it simply runs).
    template <class F>
    void run(F&& f) {
      f();
    }
  };
};

}  // namespace backend
MMFREE_NAMESPACE_END
