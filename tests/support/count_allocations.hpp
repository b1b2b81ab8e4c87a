// SPDX-License-Identifier: MIT
// Replaces the global operator new/delete with versions that count allocations while
// mmfree_test::g_count is set, for the "no allocation per token" tests. It defines the
// replacement operators, so include it in exactly one source file of a test binary.
#pragma once

#include <cstdlib>
#include <new>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace mmfree_test {
inline std::size_t g_allocations = 0;  ///< allocations counted so far
inline bool g_count = false;           ///< count while true
}  // namespace mmfree_test

void* operator new(std::size_t n) {
  if (mmfree_test::g_count) ++mmfree_test::g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (mmfree_test::g_count) ++mmfree_test::g_allocations;
  const std::size_t al = std::size_t(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (mmfree_test::g_count) ++mmfree_test::g_allocations;
  return std::malloc(n ? n : 1);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  if (mmfree_test::g_count) ++mmfree_test::g_allocations;
  const std::size_t al = std::size_t(a);
  return std::aligned_alloc(al, (n + al - 1) / al * al);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
