// SPDX-License-Identifier: MIT
// Path::avx512bw (built with -mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx512vl -mfma):
// 512-bit xsimd float kernels + vpmaddubsw ternary products.
#define MMFREE_SIMD_NS avx512bw
#define MMFREE_SIMD_X86_WIDE 1
#define MMFREE_SIMD_X86_VNNI 0
#include "compat.hpp"
MMFREE_SIMD_DECLARE_TAG(tag, xsimd::avx512bw)
#include "float_kernels.hpp"
#include "ternary_x86.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
void fill_avx512bw(simd::KernelTable& t) {
  avx512bw::FloatKernels<avx512bw::tag>::fill(t);
  avx512bw::fill_ternary(t);
}
}  // namespace simd_impl
MMFREE_NAMESPACE_END
