// SPDX-License-Identifier: MIT
// Path::avx2 (built with -mavx2 -mfma): xsimd float kernels + vpmaddubsw ternary products.
#define MMFREE_SIMD_NS avx2
#define MMFREE_SIMD_X86_WIDE 0
#define MMFREE_SIMD_X86_VNNI 0
#include "compat.hpp"
MMFREE_SIMD_DECLARE_TAG(tag, xsimd::fma3<xsimd::avx2>)
#include "float_kernels.hpp"
#include "ternary_x86.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
void fill_avx2(simd::KernelTable& t) {
  avx2::FloatKernels<avx2::tag>::fill(t);
  avx2::fill_ternary(t);
}
}  // namespace simd_impl
MMFREE_NAMESPACE_END
