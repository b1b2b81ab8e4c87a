// SPDX-License-Identifier: MIT
// Path::avx_vnni (built with -mavx2 -mfma -mavxvnni): 256-bit vpdpbusd ternary products; the
// float kernels are Path::avx2's.
#define MMFREE_SIMD_NS avx_vnni
#define MMFREE_SIMD_X86_WIDE 0
#define MMFREE_SIMD_X86_VNNI 1
#include "ternary_x86.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
void fill_avx_vnni_ternary(simd::KernelTable& t) { avx_vnni::fill_ternary(t); }
}  // namespace simd_impl
MMFREE_NAMESPACE_END
