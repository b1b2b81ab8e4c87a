// SPDX-License-Identifier: MIT
// Path::avx512_vnni (Path::avx512bw's flags + -mavx512vnni): 512-bit vpdpbusd ternary products;
// the float kernels are Path::avx512bw's.
#define MMFREE_SIMD_NS avx512_vnni
#define MMFREE_SIMD_X86_WIDE 1
#define MMFREE_SIMD_X86_VNNI 1
#include "ternary_x86.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
void fill_avx512_vnni_ternary(simd::KernelTable& t) { avx512_vnni::fill_ternary(t); }
}  // namespace simd_impl
MMFREE_NAMESPACE_END
