// SPDX-License-Identifier: MIT
// Path::neon_dotprod (built with -march=armv8.2-a+dotprod): sdot ternary products; the float
// kernels are Path::neon's.
#define MMFREE_SIMD_NS neon_dotprod
#define MMFREE_SIMD_NEON_DOT 1
#include "ternary_neon.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
void fill_neon_dotprod_ternary(simd::KernelTable& t) { neon_dotprod::fill_ternary(t); }
}  // namespace simd_impl
MMFREE_NAMESPACE_END
