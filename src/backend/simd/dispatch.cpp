// SPDX-License-Identifier: MIT
// Run-time dispatch of backend::Simd (built without -m flags): CPU feature detection and the
// kernel table of each path, assembled from the per-ISA translation units compiled in.
#include <string>
#include <vector>

#include "mmfree/backend/simd/kernel_table.hpp"
#include "mmfree/backend/simd/path.hpp"
#include "mmfree/core/error.hpp"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define MMFREE_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#else
#define MMFREE_X86 0
#endif

#if (defined(__aarch64__) || defined(_M_ARM64)) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#ifndef MMFREE_SIMD_WITH_AVX2
#define MMFREE_SIMD_WITH_AVX2 0
#endif
#ifndef MMFREE_SIMD_WITH_AVX_VNNI
#define MMFREE_SIMD_WITH_AVX_VNNI 0
#endif
#ifndef MMFREE_SIMD_WITH_AVX512BW
#define MMFREE_SIMD_WITH_AVX512BW 0
#endif
#ifndef MMFREE_SIMD_WITH_AVX512_VNNI
#define MMFREE_SIMD_WITH_AVX512_VNNI 0
#endif
#ifndef MMFREE_SIMD_WITH_NEON
#define MMFREE_SIMD_WITH_NEON 0
#endif
#ifndef MMFREE_SIMD_WITH_NEON_DOTPROD
#define MMFREE_SIMD_WITH_NEON_DOTPROD 0
#endif

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {

void fill_scalar(simd::KernelTable&);
#if MMFREE_SIMD_WITH_AVX2
void fill_avx2(simd::KernelTable&);
#endif
#if MMFREE_SIMD_WITH_AVX_VNNI
void fill_avx_vnni_ternary(simd::KernelTable&);
#endif
#if MMFREE_SIMD_WITH_AVX512BW
void fill_avx512bw(simd::KernelTable&);
#endif
#if MMFREE_SIMD_WITH_AVX512_VNNI
void fill_avx512_vnni_ternary(simd::KernelTable&);
#endif
#if MMFREE_SIMD_WITH_NEON
void fill_neon(simd::KernelTable&);
#endif
#if MMFREE_SIMD_WITH_NEON_DOTPROD
void fill_neon_dotprod_ternary(simd::KernelTable&);
#endif

namespace {

using simd::Path;

/// What this CPU and OS can run.
struct Features {
  bool avx2 = false, avx_vnni = false, avx512bw = false, avx512_vnni = false, neon = false, dotprod = false;
};

#if MMFREE_X86
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int v[4];
  __cpuidex(v, int(leaf), int(sub));
  for (int i = 0; i < 4; ++i) r[i] = unsigned(v[i]);
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}
unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}
#endif

Features detect() {
  Features f;
#if MMFREE_X86
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, fma = (r[2] >> 12) & 1;
  if (!(osxsave && avx)) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;      // SSE + AVX state saved by the OS
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;    // + opmask, ZMM_Hi256, Hi16_ZMM
  cpuid(7, 0, r);
  const unsigned b7 = r[1], c7 = r[2], max_sub7 = r[0];
  const bool avx2 = (b7 >> 5) & 1;
  const bool f512 = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, cd = (b7 >> 28) & 1, bw = (b7 >> 30) & 1,
             vl = (b7 >> 31) & 1;
  const bool vnni512 = (c7 >> 11) & 1;
  bool avxvnni = false;
  if (max_sub7 >= 1) {
    cpuid(7, 1, r);
    avxvnni = (r[0] >> 4) & 1;
  }
  f.avx2 = ymm_state && avx2 && fma;
  f.avx_vnni = f.avx2 && avxvnni;
  f.avx512bw = f.avx2 && zmm_state && f512 && dq && cd && bw && vl;
  f.avx512_vnni = f.avx512bw && vnni512;
#elif defined(__aarch64__) || defined(_M_ARM64)
  f.neon = true;  // Advanced SIMD is part of AArch64
#if defined(__linux__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
  f.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
  int v = 0;
  size_t size = sizeof(v);
  f.dotprod = sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &size, nullptr, 0) == 0 && v != 0;
#endif
#endif
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

bool cpu_has(Path p) {
  const Features& f = features();
  switch (p) {
    case Path::scalar: return true;
    case Path::avx2: return f.avx2;
    case Path::avx_vnni: return f.avx_vnni;
    case Path::avx512bw: return f.avx512bw;
    case Path::avx512_vnni: return f.avx512_vnni;
    case Path::neon: return f.neon;
    case Path::neon_dotprod: return f.neon && f.dotprod;
    case Path::best: return true;
  }
  return false;
}

bool compiled(Path p) {
  switch (p) {
    case Path::scalar: return true;
    case Path::avx2: return MMFREE_SIMD_WITH_AVX2;
    case Path::avx_vnni: return MMFREE_SIMD_WITH_AVX2 && MMFREE_SIMD_WITH_AVX_VNNI;
    case Path::avx512bw: return MMFREE_SIMD_WITH_AVX512BW;
    case Path::avx512_vnni: return MMFREE_SIMD_WITH_AVX512BW && MMFREE_SIMD_WITH_AVX512_VNNI;
    case Path::neon: return MMFREE_SIMD_WITH_NEON;
    case Path::neon_dotprod: return MMFREE_SIMD_WITH_NEON && MMFREE_SIMD_WITH_NEON_DOTPROD;
    case Path::best: return true;
  }
  return false;
}

/// Builds the table of a compiled path (kernels are filled base first, then the VNNI / dotprod
/// variants replace the ternary products).
simd::KernelTable build(Path p) {
  simd::KernelTable t;
  fill_scalar(t);
  switch (p) {
    case Path::scalar: break;
#if MMFREE_SIMD_WITH_AVX2
    case Path::avx2: fill_avx2(t); break;
#if MMFREE_SIMD_WITH_AVX_VNNI
    case Path::avx_vnni:
      fill_avx2(t);
      fill_avx_vnni_ternary(t);
      break;
#endif
#endif
#if MMFREE_SIMD_WITH_AVX512BW
    case Path::avx512bw: fill_avx512bw(t); break;
#if MMFREE_SIMD_WITH_AVX512_VNNI
    case Path::avx512_vnni:
      fill_avx512bw(t);
      fill_avx512_vnni_ternary(t);
      break;
#endif
#endif
#if MMFREE_SIMD_WITH_NEON
    case Path::neon: fill_neon(t); break;
#if MMFREE_SIMD_WITH_NEON_DOTPROD
    case Path::neon_dotprod:
      fill_neon(t);
      fill_neon_dotprod_ternary(t);
      break;
#endif
#endif
    default: break;
  }
  t.path = p;
  return t;
}

/// The tables of the paths this CPU can run. The fill functions of a path live in its ISA's TU:
/// even copying a table there may use that ISA's registers, so nothing of an unsupported path runs.
struct Tables {
  simd::KernelTable t[simd::path_count];
  Tables() {
    for (int i = 0; i < simd::path_count; ++i)
      if (compiled(Path(i)) && cpu_has(Path(i))) t[i] = build(Path(i));
  }
};

}  // namespace
}  // namespace simd_impl

namespace simd {

bool path_compiled(Path p) noexcept { return simd_impl::compiled(p); }

bool path_supported(Path p) noexcept { return simd_impl::compiled(p) && simd_impl::cpu_has(p); }

Path best_path() noexcept {
  static const Path best = [] {
    // fastest first
    for (Path p : {Path::avx512_vnni, Path::avx512bw, Path::avx_vnni, Path::avx2, Path::neon_dotprod, Path::neon})
      if (path_supported(p)) return p;
    return Path::scalar;
  }();
  return best;
}

std::vector<Path> supported_paths() {
  std::vector<Path> v;
  for (int i = 0; i < path_count; ++i)
    if (path_supported(Path(i))) v.push_back(Path(i));
  return v;
}

const KernelTable& kernel_table(Path p) {
  static const simd_impl::Tables tables;
  if (p == Path::best) p = best_path();
  if (!simd_impl::compiled(p))
    throw Error("SIMD path " + std::string(path_name(p)) + " is not compiled into this build of mmfree::simd");
  if (!simd_impl::cpu_has(p))
    throw Error("this CPU cannot run SIMD path " + std::string(path_name(p)) + " (best available: " +
                std::string(path_name(best_path())) + ")");
  return tables.t[int(p)];
}

}  // namespace simd
MMFREE_NAMESPACE_END
