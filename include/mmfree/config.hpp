// SPDX-License-Identifier: MIT
// Which optional pieces are visible. Each can be forced with -DMMFREE_HAS_X=0/1; by default we
// look for the dependency's header.
#pragma once

#include "macros.hpp"
#include "version.hpp"

#ifndef MMFREE_HAS_JSON
#if __has_include(<nlohmann/json.hpp>)
#define MMFREE_HAS_JSON 1
#else
#define MMFREE_HAS_JSON 0
#endif
#endif

#ifndef MMFREE_HAS_XSIMD
#if __has_include(<xsimd/xsimd.hpp>)
#define MMFREE_HAS_XSIMD 1
#else
#define MMFREE_HAS_XSIMD 0
#endif
#endif

#ifndef MMFREE_HAS_SIMD
#define MMFREE_HAS_SIMD 0  // backend::Simd needs the compiled mmfree::simd library, which defines it to 1
#endif

#ifndef MMFREE_HAS_KOKKOS
#define MMFREE_HAS_KOKKOS 0  // Kokkos is opt-in: the mmfree::kokkos target defines it to 1
#endif

#if defined(_WIN32)
#define MMFREE_POSIX 0
#else
#define MMFREE_POSIX 1
#endif
