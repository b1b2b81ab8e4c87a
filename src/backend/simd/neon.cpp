// SPDX-License-Identifier: MIT
// Path::neon (AArch64 Advanced SIMD): xsimd float kernels + smlal/sadalp ternary products.
#define MMFREE_SIMD_NS neon
#define MMFREE_SIMD_NEON_DOT 0
#include "compat.hpp"
#if XSIMD_VERSION_MAJOR < 9
MMFREE_SIMD_USE_TAG(tag, xsimd::neon64)
#else
MMFREE_SIMD_DECLARE_TAG(tag, xsimd::neon64)
#endif
#include "float_kernels.hpp"
#include "ternary_neon.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
void fill_neon(simd::KernelTable& t) {
  neon::FloatKernels<neon::tag>::fill(t);
  neon::fill_ternary(t);
}
}  // namespace simd_impl
MMFREE_NAMESPACE_END
