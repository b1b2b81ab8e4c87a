// SPDX-License-Identifier: MIT
// The instruction-set paths of backend::Simd, their names, and run-time CPU detection (the
// detection and the kernels are compiled into the mmfree::simd library).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/error.hpp"
#include "../../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd {

/// \brief One set of kernels of backend::Simd, each compiled with its own -m flags.
///
/// Every path computes the same bits (integer sums are exact, float steps follow core/quantize.hpp
/// and core/math.hpp operation by operation); they differ only in speed.
enum class Path : std::uint8_t {
  scalar,       ///< portable C++, any CPU: the always-correct fallback
  avx2,         ///< x86-64 AVX2 + FMA: vpmaddubsw products
  avx_vnni,     ///< AVX2 + AVX-VNNI (Alder Lake, Zen 5): 256-bit vpdpbusd
  avx512bw,     ///< AVX-512 F/BW/DQ/VL (Skylake-X, Zen 4): 512-bit vpmaddubsw
  avx512_vnni,  ///< AVX-512 + VNNI (Cascade Lake+, Zen 4): 512-bit vpdpbusd
  neon,         ///< AArch64 Advanced SIMD: smull/sadalp products
  neon_dotprod, ///< AArch64 with the dot-product extension (sdot)
  best          ///< not a path: "the best path this CPU has", chosen at run time
};

/// Number of real paths (every enumerator before Path::best).
inline constexpr int path_count = 7;

/// Short lowercase name ("avx2", "neon_dotprod", "best"), as used in benchmark names and CLI flags.
constexpr std::string_view path_name(Path p) {
  switch (p) {
    case Path::scalar: return "scalar";
    case Path::avx2: return "avx2";
    case Path::avx_vnni: return "avx_vnni";
    case Path::avx512bw: return "avx512bw";
    case Path::avx512_vnni: return "avx512_vnni";
    case Path::neon: return "neon";
    case Path::neon_dotprod: return "neon_dotprod";
    case Path::best: return "best";
  }
  return "?";
}

/// Parses a path_name(); throws mmfree::Error listing the valid names otherwise.
inline Path parse_path(std::string_view s) {
  for (int i = 0; i <= path_count; ++i)
    if (path_name(Path(i)) == s) return Path(i);
  throw Error("unknown SIMD path '" + std::string(s) +
              "' (scalar, avx2, avx_vnni, avx512bw, avx512_vnni, neon, neon_dotprod, best)");
}

/// True when this build of the mmfree::simd library contains kernels for `p`.
bool path_compiled(Path p) noexcept;
/// True when `p` is compiled in and this CPU (and OS) can run it.
bool path_supported(Path p) noexcept;
/// The fastest supported path (what Path::best resolves to); at least Path::scalar.
Path best_path() noexcept;
/// Every supported path, scalar first.
std::vector<Path> supported_paths();

}  // namespace simd
MMFREE_NAMESPACE_END
