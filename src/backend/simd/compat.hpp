// SPDX-License-Identifier: MIT
// xsimd glue for the per-ISA kernel translation units: one arch tag per TU and the few operations
// whose spelling or exactness differs between xsimd 8.1 (Debian) and 13+.
//
// Include only from a TU that defines MMFREE_SIMD_NS (its own namespace) and is compiled with the
// -m flags of its ISA. Every function here is a template on the TU's tag, so no two TUs (or user
// code built with other flags) ever share an instantiation: no ODR trap.
#pragma once

#ifndef MMFREE_SIMD_NS
#error "compat.hpp belongs to a per-ISA kernel TU: define MMFREE_SIMD_NS first"
#endif

#include <cstdint>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#elif defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>
#endif

#include "mmfree/macros.hpp"

/// \brief Declares arch tag NAME for this TU: it behaves as xsimd's BASE (kernels, registers) but
/// is a distinct type, so xsimd's templates are instantiated once per TU under a unique name.
#define MMFREE_SIMD_DECLARE_TAG(NAME, BASE)                                                           \
  namespace mmfree {                                                                                 \
  inline namespace v0 {                                                                              \
  namespace simd_impl {                                                                              \
  namespace MMFREE_SIMD_NS {                                                                         \
  struct NAME : BASE {                                                                               \
    static constexpr char const* name() noexcept { return "mmfree_" #NAME; }                         \
  };                                                                                                 \
  }                                                                                                  \
  }                                                                                                  \
  }                                                                                                  \
  }                                                                                                  \
  namespace xsimd {                                                                                  \
  namespace types {                                                                                  \
  XSIMD_DECLARE_SIMD_REGISTER_ALIAS(::mmfree::simd_impl::MMFREE_SIMD_NS::NAME, BASE);                \
  template <class T>                                                                                 \
  struct get_bool_simd_register<T, ::mmfree::simd_impl::MMFREE_SIMD_NS::NAME>                        \
      : get_bool_simd_register<T, BASE> {};                                                          \
  }                                                                                                  \
  }

/// Uses xsimd's own tag BASE as NAME, where an xsimd version cannot take a derived tag (xsimd
/// 8.1's neon64 kernels return batch<T, neon64> whatever the tag). Safe when no other TU of the
/// program instantiates BASE with other code-generation flags (on AArch64 NEON is the baseline).
#define MMFREE_SIMD_USE_TAG(NAME, BASE) \
  namespace mmfree {                    \
  inline namespace v0 {                 \
  namespace simd_impl {                 \
  namespace MMFREE_SIMD_NS {            \
  using NAME = BASE;                    \
  }                                     \
  }                                     \
  }                                     \
  }

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
namespace MMFREE_SIMD_NS {
namespace compat {

template <class T, class A>
using batch = xsimd::batch<T, A>;

/// Reinterprets the bits of a batch (xsimd 8.1 takes the target batch type, 9+ the element type).
template <class U, class T, class A>
MMFREE_FORCEINLINE batch<U, A> bitcast(const batch<T, A>& x) noexcept {
#if XSIMD_VERSION_MAJOR < 9
  return xsimd::bitwise_cast<batch<U, A>>(x);
#else
  return xsimd::bitwise_cast<U>(x);
#endif
}

// The operations below go to intrinsics directly: xsimd 8.1's AVX-512 `fma` is the unfused
// generic a*b+c, and exactness (the same bits as the scalar oracle) is the whole point here.

/// Fused a * b + c (one rounding), as ::fmaf.
template <class A>
MMFREE_FORCEINLINE batch<float, A> fmadd(const batch<float, A>& a, const batch<float, A>& b,
                                         const batch<float, A>& c) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) return _mm512_fmadd_ps(a, b, c);
  else
#endif
#if XSIMD_WITH_AVX2 && defined(__FMA__)
  if constexpr (std::is_base_of_v<xsimd::avx2, A>) return _mm256_fmadd_ps(a, b, c);
  else
#endif
#if XSIMD_WITH_NEON64
  if constexpr (std::is_base_of_v<xsimd::neon64, A>) return vfmaq_f32(c, a, b);
  else
#endif
    static_assert(std::is_void_v<A>, "mmfree: no fused multiply-add for this arch tag");
}

/// Correctly rounded a / b (xsimd 8.1's NEON division is a reciprocal estimate refined by
/// Newton steps: close, but not the IEEE quotient the oracle computes).
template <class A>
MMFREE_FORCEINLINE batch<float, A> div(const batch<float, A>& a, const batch<float, A>& b) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) return _mm512_div_ps(a, b);
  else
#endif
#if XSIMD_WITH_AVX2
  if constexpr (std::is_base_of_v<xsimd::avx2, A>) return _mm256_div_ps(a, b);
  else
#endif
#if XSIMD_WITH_NEON64
  if constexpr (std::is_base_of_v<xsimd::neon64, A>) return vdivq_f32(a, b);
  else
#endif
    static_assert(std::is_void_v<A>, "mmfree: no division for this arch tag");
}

/// Rounds toward -infinity (::floorf).
template <class A>
MMFREE_FORCEINLINE batch<float, A> floor(const batch<float, A>& a) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  else
#endif
#if XSIMD_WITH_AVX2
  if constexpr (std::is_base_of_v<xsimd::avx2, A>) return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  else
#endif
#if XSIMD_WITH_NEON64
  if constexpr (std::is_base_of_v<xsimd::neon64, A>) return vrndmq_f32(a);
  else
#endif
    static_assert(std::is_void_v<A>, "mmfree: no floor for this arch tag");
}

/// Rounds toward zero.
template <class A>
MMFREE_FORCEINLINE batch<float, A> trunc(const batch<float, A>& a) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  else
#endif
#if XSIMD_WITH_AVX2
  if constexpr (std::is_base_of_v<xsimd::avx2, A>) return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  else
#endif
#if XSIMD_WITH_NEON64
  if constexpr (std::is_base_of_v<xsimd::neon64, A>) return vrndq_f32(a);
  else
#endif
    static_assert(std::is_void_v<A>, "mmfree: no trunc for this arch tag");
}

/// float -> int32, truncating (the values passed here are already integers or NaN-free).
template <class A>
MMFREE_FORCEINLINE batch<std::int32_t, A> to_int(const batch<float, A>& a) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) return _mm512_cvttps_epi32(a);
  else
#endif
#if XSIMD_WITH_AVX2
  if constexpr (std::is_base_of_v<xsimd::avx2, A>) return _mm256_cvttps_epi32(a);
  else
#endif
#if XSIMD_WITH_NEON64
  if constexpr (std::is_base_of_v<xsimd::neon64, A>) return vcvtq_s32_f32(a);
  else
#endif
    static_assert(std::is_void_v<A>, "mmfree: no float->int conversion for this arch tag");
}

/// Stores the int32 lanes of c, all in [-128, 127], as int8 (L bytes at dst).
template <class A>
MMFREE_FORCEINLINE void store_i8(std::int8_t* dst, const batch<std::int32_t, A>& c) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtsepi32_epi8(c));
  } else
#endif
#if XSIMD_WITH_AVX2
  if constexpr (std::is_base_of_v<xsimd::avx2, A>) {
    const __m256i v = c;
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm_packs_epi16(w, w));
  } else
#endif
#if XSIMD_WITH_NEON64
  if constexpr (std::is_base_of_v<xsimd::neon64, A>) {
    const int16x4_t h = vqmovn_s32(c);
    const int8x8_t b = vqmovn_s16(vcombine_s16(h, h));
    vst1_lane_s32(reinterpret_cast<std::int32_t*>(dst), vreinterpret_s32_s8(b), 0);
  } else
#endif
    static_assert(std::is_void_v<A>, "mmfree: no int8 store for this arch tag");
}

}  // namespace compat
}  // namespace MMFREE_SIMD_NS
}  // namespace simd_impl
MMFREE_NAMESPACE_END
