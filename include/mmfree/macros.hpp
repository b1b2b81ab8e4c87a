// SPDX-License-Identifier: MIT
// Portability macros shared by every header: host/device markers and the versioned namespace.
#pragma once

#if defined(MMFREE_HOST_DEVICE)
// user override
#elif defined(KOKKOS_INLINE_FUNCTION) && (defined(__CUDACC__) || defined(__HIPCC__))
#define MMFREE_HOST_DEVICE KOKKOS_INLINE_FUNCTION
#elif defined(__CUDACC__) || defined(__HIPCC__)
#define MMFREE_HOST_DEVICE __host__ __device__ inline
#else
#define MMFREE_HOST_DEVICE inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MMFREE_FORCEINLINE inline __attribute__((always_inline))
#define MMFREE_RESTRICT __restrict__
#else
#define MMFREE_FORCEINLINE inline
#define MMFREE_RESTRICT
#endif

/// Everything public lives in `mmfree::v0`, reachable as `mmfree::` (inline namespace), so a
/// future ABI-breaking version can coexist in one program.
#define MMFREE_NAMESPACE_BEGIN \
  namespace mmfree {           \
  inline namespace v0 {
#define MMFREE_NAMESPACE_END \
  }                          \
  }
