// SPDX-License-Identifier: MIT
// Ternary products on x86 (AVX2, AVX-VNNI, AVX-512BW, AVX-512 VNNI), int32-exact.
//
// Every packing is decoded to unsigned codes c = t + 1 in {0, 1, 2} and multiplied with the int8
// activations by vpmaddubsw (u8 x s8, pairs summed into int16, flushed to int32 before int16 can
// overflow) or vpdpbusd (VNNI: straight into int32); then sum(c * q) - sum(q) = sum(t * q).
//   GEMV (one token): decodes each 32-byte group of a packed row in registers.
//   GEMM (several tokens): unpacks a tile of rows once into scratch, then runs every token on it.
// xsimd has no u8 x s8 multiply-add, so the integer part uses intrinsics on raw registers.
//
// Included by an x86 kernel TU after it defines MMFREE_SIMD_NS and MMFREE_SIMD_X86_{WIDE,VNNI}.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mmfree/backend/simd/kernel_table.hpp"

#if !defined(MMFREE_SIMD_X86_WIDE) || !defined(MMFREE_SIMD_X86_VNNI)
#error "define MMFREE_SIMD_X86_WIDE (0: 256-bit, 1: 512-bit) and MMFREE_SIMD_X86_VNNI (0/1)"
#endif

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
namespace MMFREE_SIMD_NS {

using simd::ScratchSpan;
using simd::TernaryProblem;

// ---------------------------------------------------------------------------------------------
// Vector operations. V256 holds one weight row per register; V512 holds two (low and high 256-bit
// halves: rows n and n+1), so 32-byte groups of both rows decode in one pass.

struct V256 {
  using V = __m256i;
  static constexpr int bytes = 32;
  static constexpr int rows_per_vec = 1;
  static V zero() { return _mm256_setzero_si256(); }
  static V set1(char c) { return _mm256_set1_epi8(c); }
  static V load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static void store(void* p, V v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
  static V load_rows(const std::uint8_t* r0, const std::uint8_t*) { return load(r0); }
  static V load_act(const std::int8_t* q) { return load(q); }
  static V and_(V a, V b) { return _mm256_and_si256(a, b); }
  template <int N>
  static V srli16(V a) {
    return _mm256_srli_epi16(a, N);
  }
  template <int N>
  static V srai16(V a) {
    return _mm256_srai_epi16(a, N);
  }
  static V add8(V a, V b) { return _mm256_add_epi8(a, b); }
  static V subs_u8(V a, V b) { return _mm256_subs_epu8(a, b); }
  static V avg_u8(V a, V b) { return _mm256_avg_epu8(a, b); }
  static V add16(V a, V b) { return _mm256_add_epi16(a, b); }
  static V add32(V a, V b) { return _mm256_add_epi32(a, b); }
  static V maddubs(V u, V s) { return _mm256_maddubs_epi16(u, s); }
  static V madd_ones(V a) { return _mm256_madd_epi16(a, _mm256_set1_epi16(1)); }
#if MMFREE_SIMD_X86_VNNI && !MMFREE_SIMD_X86_WIDE
  static V dpbusd(V acc, V u, V s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
#endif
  /// Sum of the 8 int32 lanes -> out[0].
  static void reduce(V v, std::int32_t* out) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    out[0] = _mm_cvtsi128_si32(s);
  }
};

#if MMFREE_SIMD_X86_WIDE
/// Two rows per register (GEMV) with the same operations as V256.
struct V512x2 {
  using V = __m512i;
  static constexpr int bytes = 64;
  static constexpr int rows_per_vec = 2;
  static V zero() { return _mm512_setzero_si512(); }
  static V set1(char c) { return _mm512_set1_epi8(c); }
  static V load_rows(const std::uint8_t* r0, const std::uint8_t* r1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r1)), 1);
  }
  static V load_act(const std::int8_t* q) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
  }
  static V and_(V a, V b) { return _mm512_and_si512(a, b); }
  template <int N>
  static V srli16(V a) {
    return _mm512_srli_epi16(a, N);
  }
  static V add8(V a, V b) { return _mm512_add_epi8(a, b); }
  static V subs_u8(V a, V b) { return _mm512_subs_epu8(a, b); }
  static V avg_u8(V a, V b) { return _mm512_avg_epu8(a, b); }
  static V add16(V a, V b) { return _mm512_add_epi16(a, b); }
  static V add32(V a, V b) { return _mm512_add_epi32(a, b); }
  static V maddubs(V u, V s) { return _mm512_maddubs_epi16(u, s); }
  static V madd_ones(V a) { return _mm512_madd_epi16(a, _mm512_set1_epi16(1)); }
#if MMFREE_SIMD_X86_VNNI
  static V dpbusd(V acc, V u, V s) { return _mm512_dpbusd_epi32(acc, u, s); }
#endif
  /// Sums of the low and high 8 lanes -> out[0], out[1].
  static void reduce(V v, std::int32_t* out) {
    V256::reduce(_mm512_castsi512_si256(v), out);
    V256::reduce(_mm512_extracti64x4_epi64(v, 1), out + 1);
  }
};

/// One row per 512-bit register (GEMM on unpacked codes).
struct V512 {
  using V = __m512i;
  static constexpr int bytes = 64;
  static V zero() { return _mm512_setzero_si512(); }
  static V load(const void* p) { return _mm512_loadu_si512(p); }
  /// The first 32 bytes at p, zero above (a K tail shorter than a register; reads nothing beyond).
  static V load_half(const void* p) { return _mm512_maskz_loadu_epi8(__mmask64(0xFFFFFFFFull), p); }
  static V add16(V a, V b) { return _mm512_add_epi16(a, b); }
  static V add32(V a, V b) { return _mm512_add_epi32(a, b); }
  static V maddubs(V u, V s) { return _mm512_maddubs_epi16(u, s); }
  static V madd_ones(V a) { return _mm512_madd_epi16(a, _mm512_set1_epi16(1)); }
#if MMFREE_SIMD_X86_VNNI
  static V dpbusd(V acc, V u, V s) { return _mm512_dpbusd_epi32(acc, u, s); }
#endif
  static std::int32_t reduce(V v) { return _mm512_reduce_add_epi32(v); }
};
#endif

// ---------------------------------------------------------------------------------------------
// Accumulators of sum(u8 * s8).

/// vpmaddubsw into int16 lanes; flush() widens to int32 (callers flush before 32767 is reachable).
template <class O>
struct MaddAcc {
  typename O::V a16 = O::zero(), a32 = O::zero();
  MMFREE_FORCEINLINE void add(typename O::V u, typename O::V s) { a16 = O::add16(a16, O::maddubs(u, s)); }
  MMFREE_FORCEINLINE void flush() {
    a32 = O::add32(a32, O::madd_ones(a16));
    a16 = O::zero();
  }
  MMFREE_FORCEINLINE typename O::V total() {
    flush();
    return a32;
  }
};

#if MMFREE_SIMD_X86_VNNI
/// vpdpbusd straight into int32.
template <class O>
struct DpAcc {
  typename O::V a32 = O::zero();
  MMFREE_FORCEINLINE void add(typename O::V u, typename O::V s) { a32 = O::dpbusd(a32, u, s); }
  MMFREE_FORCEINLINE void flush() {}
  MMFREE_FORCEINLINE typename O::V total() { return a32; }
};
template <class O>
using Acc = DpAcc<O>;
#else
template <class O>
using Acc = MaddAcc<O>;
#endif

// ---------------------------------------------------------------------------------------------
// Packings. A group is 32 packed bytes; dot() multiplies its codes with the matching activation
// vectors qv[0..nvec), unpack() writes its group_k codes (u8, natural order).
// flush_groups bounds int16 lanes: per group, a lane gets nvec pairs of at most 3 * 128 each
// (code 3 only from corrupt I2 bytes, which decode to +2 like the oracle).

struct I8Codec {  // byte k = t_k (int8): c = t + 1 (requires t in {-1, 0, 1})
  static constexpr index_t group_k = 32, nvec = 1, flush_groups = 32;
  template <class O, class A>
  static MMFREE_FORCEINLINE void dot(typename O::V w, const typename O::V* qv, A& acc) {
    acc.add(O::add8(w, O::set1(1)), qv[0]);
  }
  static void unpack(const std::uint8_t* g, std::uint8_t* out) {
    V256::store(out, V256::add8(V256::load(g), V256::set1(1)));
  }
};

struct I2Codec {  // byte j: codes of weights j, j+32, j+64, j+96 in bits 0-1, 2-3, 4-5, 6-7
  static constexpr index_t group_k = 128, nvec = 4, flush_groups = 8;
  template <class O, class A>
  static MMFREE_FORCEINLINE void dot(typename O::V w, const typename O::V* qv, A& acc) {
    const typename O::V m = O::set1(3);
    acc.add(O::and_(w, m), qv[0]);
    acc.add(O::and_(O::template srli16<2>(w), m), qv[1]);
    acc.add(O::and_(O::template srli16<4>(w), m), qv[2]);
    acc.add(O::and_(O::template srli16<6>(w), m), qv[3]);
  }
  static void unpack(const std::uint8_t* g, std::uint8_t* out) {
    using O = V256;
    const O::V w = O::load(g), m = O::set1(3);
    O::store(out, O::and_(w, m));
    O::store(out + 32, O::and_(O::srli16<2>(w), m));
    O::store(out + 64, O::and_(O::srli16<4>(w), m));
    O::store(out + 96, O::and_(O::srli16<6>(w), m));
  }
};

struct TQ1Codec {  // byte j: base-3 digits of weights j + 32 s, s = 0..4 (packing/tq1.hpp)
  static constexpr index_t group_k = 160, nvec = 5, flush_groups = 8;
  /// Digit of m = uint8(byte * 3^s): (3 m) >> 8 = (m + m/2) >> 7, computed as
  /// avg(m-1, avg(m-1, 0)) >> 6 without leaving 8-bit lanes (llama.cpp's TQ1_0 trick, exact for all m).
  template <class O>
  static MMFREE_FORCEINLINE typename O::V digit(typename O::V m) {
    const typename O::V x = O::subs_u8(m, O::set1(1));
    const typename O::V y = O::avg_u8(x, O::avg_u8(x, O::zero()));
    return O::and_(O::template srli16<6>(y), O::set1(3));
  }
  template <class O>
  static MMFREE_FORCEINLINE typename O::V times3(typename O::V m) {
    return O::add8(m, O::add8(m, m));
  }
  template <class O, class A>
  static MMFREE_FORCEINLINE void dot(typename O::V w, const typename O::V* qv, A& acc) {
    typename O::V m = w;
    acc.add(digit<O>(m), qv[0]);
    m = times3<O>(m);
    acc.add(digit<O>(m), qv[1]);
    m = times3<O>(m);
    acc.add(digit<O>(m), qv[2]);
    m = times3<O>(m);
    acc.add(digit<O>(m), qv[3]);
    m = times3<O>(m);
    acc.add(digit<O>(m), qv[4]);
  }
  static void unpack(const std::uint8_t* g, std::uint8_t* out) {
    using O = V256;
    O::V m = O::load(g);
    for (int s = 0; s < 5; ++s) {
      O::store(out + 32 * s, digit<O>(m));
      m = times3<O>(m);
    }
  }
};

// ---------------------------------------------------------------------------------------------
// GEMV: one token, rows decoded in registers, NV registers of rows at a time.

/// Touches two cache lines at address `a` (an integer: the address may lie beyond the matrix;
/// prefetches never fault).
MMFREE_FORCEINLINE void prefetch2(std::uintptr_t a) {
  _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(a + 64), _MM_HINT_T0);
}

/// Dot products of NV registers of rows with one token. `pf` is where the tile `dist` bytes ahead
/// starts: the rows of a tile are contiguous and a group consumes 32 bytes of each, so
/// prefetching 32 * rows bytes a group from there stays exactly that far ahead. (The hardware
/// prefetcher does not follow 4 interleaved streams here: 3 GB/s without this, cache-missing.)
template <class C, class O, int NV>
MMFREE_FORCEINLINE void gemv_tile(const std::uint8_t* const* rowp, index_t groups, const std::int8_t* q,
                                  std::uintptr_t pf, std::int32_t* out) {
  constexpr int rpv = O::rows_per_vec;
  constexpr index_t tile_rows = NV * rpv;
  Acc<O> acc[NV];
  index_t g = 0;
  while (g < groups) {
    const index_t gend = groups - g < C::flush_groups ? groups : g + C::flush_groups;
    for (; g < gend; ++g) {
      if constexpr (tile_rows * 32 == 128) prefetch2(pf + std::uintptr_t(g) * 128);
      typename O::V qv[C::nvec];
      for (int s = 0; s < int(C::nvec); ++s) qv[s] = O::load_act(q + g * C::group_k + 32 * s);
      for (int i = 0; i < NV; ++i)
        C::template dot<O>(O::load_rows(rowp[i * rpv] + g * 32, rowp[i * rpv + rpv - 1] + g * 32), qv, acc[i]);
    }
    for (int i = 0; i < NV; ++i) acc[i].flush();
  }
  for (int i = 0; i < NV; ++i) O::reduce(acc[i].total(), out + i * rpv);
}

#if !MMFREE_SIMD_X86_WIDE && !MMFREE_SIMD_X86_VNNI
/// \brief gemv_tile for I2 on AVX2 with one shift a group instead of three.
///
/// With h = w >> 4 (16-bit lanes), the codes of a byte are w & 3, (w & 12) = 4 c1, h & 3 and
/// (h & 12) = 4 c3. The products of the two pairs masked in place are 4 times too large; their sum
/// is a multiple of 4 and is divided by 4 with an exact arithmetic shift before it joins the rest
/// (about 4 % faster than gemv_tile here; the AVX-512 and VNNI paths, which could not be measured
/// on this machine, keep gemv_tile).
/// vpmaddubsw bounds per int16 lane (codes up to 3, |q| <= 128): s0 and s2 hold two products of at
/// most 3 x 128, s1 and s3 two of at most 12 x 128 (s1 + s3 <= 6144 fits), so a group adds at most
/// 768 + 768 + 6144 / 4 = 3072: flushing every 8 groups stays below 32767.
template <int NV>
MMFREE_FORCEINLINE void gemv_tile_i2(const std::uint8_t* const* rowp, index_t groups, const std::int8_t* q,
                                     std::uintptr_t pf, std::int32_t* out) {
  using O = V256;
  using V = O::V;
  const V m3 = O::set1(3), m12 = O::set1(12);
  V a32[NV], a16[NV];
  for (int i = 0; i < NV; ++i) a32[i] = O::zero();
  index_t g = 0;
  while (g < groups) {
    const index_t gend = groups - g < 8 ? groups : g + 8;
    for (int i = 0; i < NV; ++i) a16[i] = O::zero();
    for (; g < gend; ++g) {
      prefetch2(pf + std::uintptr_t(g) * 128);
      const std::int8_t* qg = q + g * 128;
      const V q0 = O::load_act(qg), q1 = O::load_act(qg + 32), q2 = O::load_act(qg + 64), q3 = O::load_act(qg + 96);
      for (int i = 0; i < NV; ++i) {
        const V w = O::load(rowp[i] + g * 32);
        const V h = O::srli16<4>(w);
        const V s0 = O::maddubs(O::and_(w, m3), q0), s1 = O::maddubs(O::and_(w, m12), q1);
        const V s2 = O::maddubs(O::and_(h, m3), q2), s3 = O::maddubs(O::and_(h, m12), q3);
        a16[i] = O::add16(a16[i], O::add16(O::add16(s0, s2), O::srai16<2>(O::add16(s1, s3))));
      }
    }
    for (int i = 0; i < NV; ++i) a32[i] = O::add32(a32[i], O::madd_ones(a16[i]));
  }
  for (int i = 0; i < NV; ++i) O::reduce(a32[i], out + i);
}
#endif

template <class C, class O>
void gemv(const TernaryProblem& p, index_t n0, index_t n1) {
  constexpr int NV = 4 / O::rows_per_vec, tile = NV * O::rows_per_vec;
  static_assert(tile * 32 == 128, "gemv_tile prefetches 128 bytes a group");
  const index_t groups = p.row_bytes / 32;
  const std::int32_t qsum = p.code_sums[0];
  const float denom = p.act_scale[0] * p.w_scale;
  // Prefetch distance: whole tiles, at least 4 KiB. 1.3B decode, 2 threads, 2 MiB pages, Zen 4,
  // distances compared in one process: 0.5-4 KiB alike, 8 KiB 3-5 % slower, 16-24 KiB 10-15 %
  // slower (presumably L1 evicts lines fetched that early); without prefetching 2.6x slower.
  const index_t tile_bytes = tile * p.row_bytes;
  const index_t dist = ((4096 + tile_bytes - 1) / tile_bytes) * tile_bytes;
  for (index_t n = n0; n < n1; n += tile) {
    const std::uint8_t* rowp[tile];
    for (int j = 0; j < tile; ++j) rowp[j] = p.weights + (n + j < n1 ? n + j : n1 - 1) * p.row_bytes;
    std::int32_t acc[tile];
    const std::uintptr_t pf = reinterpret_cast<std::uintptr_t>(rowp[0]) + std::uintptr_t(dist);
#if !MMFREE_SIMD_X86_WIDE && !MMFREE_SIMD_X86_VNNI
    if constexpr (std::is_same_v<C, I2Codec>)
      gemv_tile_i2<NV>(rowp, groups, p.codes, pf, acc);
    else
#endif
      gemv_tile<C, O, NV>(rowp, groups, p.codes, pf, acc);
    for (int j = 0; j < tile && n + j < n1; ++j) p.out[n + j] = float(acc[j] - qsum) / denom;  // ref::dequantize
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM: MR tokens x NR unpacked rows per micro-tile, dot products along K.

#if MMFREE_SIMD_X86_WIDE
using G = V512;
#else
using G = V256;
#endif

/// sums[i][j] += sum_k u[j][k] * q[i][k] over k < kc (kc a multiple of 32). The accumulators stay
/// in registers: int16 (vpmaddubsw) for at most 32 steps, then widened into int32 partials.
template <int MR, int NR>
MMFREE_FORCEINLINE void micro(const std::uint8_t* u, index_t us, const std::int8_t* const* q, index_t kc,
                              std::int32_t (*sums)[4]) {
  using V = typename G::V;
  constexpr index_t W = G::bytes;
  const index_t kfull = kc / W * W;
#if MMFREE_SIMD_X86_VNNI
  V acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = G::zero();
  index_t k = 0;
#if defined(__GNUC__) && defined(__x86_64__) && !defined(MMFREE_SIMD_NO_ASM)
  // Hand-allocated hot loops (GCC 12 copies every vpdpbusd accumulator in and out of another
  // register): rows in fixed registers, one activation register, the accumulators in place.
#if MMFREE_SIMD_X86_WIDE
  if constexpr (MR == 4 && NR == 4) {
    if (kfull > 0) {
      // 16 accumulators do not fit asm's 30 operands ('+' counts twice): they live in zmm0-15
      // inside the asm and are stored to `out`; the row / token pointers come from `ptr`.
      const void* ptr[8] = {u, u + us, u + 2 * us, u + 3 * us, q[0], q[1], q[2], q[3]};
      alignas(64) V out[16];
#define MMFREE_DP4(Q, A, B, C, D)                \
  "vmovdqu64 (%%" Q ",%[k]), %%zmm20\n\t"         \
  "vpdpbusd %%zmm20, %%zmm16, %%zmm" A "\n\t"      \
  "vpdpbusd %%zmm20, %%zmm17, %%zmm" B "\n\t"      \
  "vpdpbusd %%zmm20, %%zmm18, %%zmm" C "\n\t"      \
  "vpdpbusd %%zmm20, %%zmm19, %%zmm" D "\n\t"
      __asm__ volatile(
          "mov (%[p]), %%r8\n\t"
          "mov 8(%[p]), %%r9\n\t"
          "mov 16(%[p]), %%r10\n\t"
          "mov 24(%[p]), %%r11\n\t"
          "mov 32(%[p]), %%r12\n\t"
          "mov 40(%[p]), %%r13\n\t"
          "mov 48(%[p]), %%r14\n\t"
          "mov 56(%[p]), %%r15\n\t"
          "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
          "vmovdqa64 %%zmm0, %%zmm1\n\t" "vmovdqa64 %%zmm0, %%zmm2\n\t" "vmovdqa64 %%zmm0, %%zmm3\n\t"
          "vmovdqa64 %%zmm0, %%zmm4\n\t" "vmovdqa64 %%zmm0, %%zmm5\n\t" "vmovdqa64 %%zmm0, %%zmm6\n\t"
          "vmovdqa64 %%zmm0, %%zmm7\n\t" "vmovdqa64 %%zmm0, %%zmm8\n\t" "vmovdqa64 %%zmm0, %%zmm9\n\t"
          "vmovdqa64 %%zmm0, %%zmm10\n\t" "vmovdqa64 %%zmm0, %%zmm11\n\t" "vmovdqa64 %%zmm0, %%zmm12\n\t"
          "vmovdqa64 %%zmm0, %%zmm13\n\t" "vmovdqa64 %%zmm0, %%zmm14\n\t" "vmovdqa64 %%zmm0, %%zmm15\n\t"
          "1:\n\t"
          "vmovdqu64 (%%r8,%[k]), %%zmm16\n\t"
          "vmovdqu64 (%%r9,%[k]), %%zmm17\n\t"
          "vmovdqu64 (%%r10,%[k]), %%zmm18\n\t"
          "vmovdqu64 (%%r11,%[k]), %%zmm19\n\t"
          MMFREE_DP4("r12", "0", "1", "2", "3") MMFREE_DP4("r13", "4", "5", "6", "7")
          MMFREE_DP4("r14", "8", "9", "10", "11") MMFREE_DP4("r15", "12", "13", "14", "15")
          "add $64, %[k]\n\t"
          "cmp %[kend], %[k]\n\t"
          "jl 1b\n\t"
          "vmovdqa64 %%zmm0, (%[o])\n\t" "vmovdqa64 %%zmm1, 64(%[o])\n\t" "vmovdqa64 %%zmm2, 128(%[o])\n\t"
          "vmovdqa64 %%zmm3, 192(%[o])\n\t" "vmovdqa64 %%zmm4, 256(%[o])\n\t" "vmovdqa64 %%zmm5, 320(%[o])\n\t"
          "vmovdqa64 %%zmm6, 384(%[o])\n\t" "vmovdqa64 %%zmm7, 448(%[o])\n\t" "vmovdqa64 %%zmm8, 512(%[o])\n\t"
          "vmovdqa64 %%zmm9, 576(%[o])\n\t" "vmovdqa64 %%zmm10, 640(%[o])\n\t" "vmovdqa64 %%zmm11, 704(%[o])\n\t"
          "vmovdqa64 %%zmm12, 768(%[o])\n\t" "vmovdqa64 %%zmm13, 832(%[o])\n\t" "vmovdqa64 %%zmm14, 896(%[o])\n\t"
          "vmovdqa64 %%zmm15, 960(%[o])\n\t"
          : [k] "+r"(k)
          : [p] "r"(ptr), [o] "r"(out), [kend] "r"(kfull)
          : "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
            "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",
            "xmm18", "xmm19", "xmm20", "cc", "memory");
#undef MMFREE_DP4
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = out[4 * i + j];
    }
  }
#else
  if constexpr (MR == 2 && NR == 4) {
    if (kfull > 0) {
#define MMFREE_DP4(Q, R)                                 \
  "vmovdqu (%[" Q "],%[k]), %%ymm8\n\t"                 \
  "%{vex%} vpdpbusd %%ymm8, %%ymm12, %[c" R "0]\n\t"       \
  "%{vex%} vpdpbusd %%ymm8, %%ymm13, %[c" R "1]\n\t"       \
  "%{vex%} vpdpbusd %%ymm8, %%ymm14, %[c" R "2]\n\t"       \
  "%{vex%} vpdpbusd %%ymm8, %%ymm15, %[c" R "3]\n\t"
      __asm__ volatile(
          "1:\n\t"
          "vmovdqu (%[u0],%[k]), %%ymm12\n\t"
          "vmovdqu (%[u1],%[k]), %%ymm13\n\t"
          "vmovdqu (%[u2],%[k]), %%ymm14\n\t"
          "vmovdqu (%[u3],%[k]), %%ymm15\n\t"
          MMFREE_DP4("q0", "0") MMFREE_DP4("q1", "1")
          "add $32, %[k]\n\t"
          "cmp %[kend], %[k]\n\t"
          "jl 1b\n\t"
          : [c00] "+x"(acc[0][0]), [c01] "+x"(acc[0][1]), [c02] "+x"(acc[0][2]), [c03] "+x"(acc[0][3]),
            [c10] "+x"(acc[1][0]), [c11] "+x"(acc[1][1]), [c12] "+x"(acc[1][2]), [c13] "+x"(acc[1][3]), [k] "+r"(k)
          : [u0] "r"(u), [u1] "r"(u + us), [u2] "r"(u + 2 * us), [u3] "r"(u + 3 * us), [q0] "r"(q[0]),
            [q1] "r"(q[1]), [kend] "r"(kfull)
          : "xmm8", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
#undef MMFREE_DP4
    }
  }
#endif
#endif
  for (; k < kfull; k += W) {
    V uv[NR];
    for (int j = 0; j < NR; ++j) uv[j] = G::load(u + j * us + k);
    for (int i = 0; i < MR; ++i) {
      const V qv = G::load(q[i] + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = G::dpbusd(acc[i][j], uv[j], qv);
    }
  }
#if MMFREE_SIMD_X86_WIDE
  if (kfull < kc) {  // 32-byte tail
    V uv[NR];
    for (int j = 0; j < NR; ++j) uv[j] = G::load_half(u + j * us + kfull);
    for (int i = 0; i < MR; ++i) {
      const V qv = G::load_half(q[i] + kfull);
      for (int j = 0; j < NR; ++j) acc[i][j] = G::dpbusd(acc[i][j], uv[j], qv);
    }
  }
#endif
#elif !MMFREE_SIMD_X86_WIDE
  // AVX2: written out for 2 tokens x 4 rows; GCC 12 spills the array form.
  static_assert(NR == 4 && (MR == 1 || MR == 2), "AVX2 micro-kernel: 1 or 2 tokens x 4 rows");
  V acc[MR][NR];  // int32 partials
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = G::zero();
  const std::uint8_t *u0 = u, *u1 = u + us, *u2 = u + 2 * us, *u3 = u + 3 * us;
  const std::int8_t* q0 = q[0];
  const std::int8_t* q1 = q[MR - 1];
  // int16 lanes: 32 steps x (2 products of at most 3 x 128) < 32768
  for (index_t kb = 0; kb < kfull; kb += 32 * W) {
    const index_t kend = kfull < kb + 32 * W ? kfull : kb + 32 * W;
    V a00 = G::zero(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
#if defined(__GNUC__) && defined(__x86_64__) && !defined(MMFREE_SIMD_NO_ASM)
    if constexpr (MR == 2) {
      // The hot loop of prefill, register-allocated by hand: 6 loads, 8 vpmaddubsw, 8 vpaddw a
      // step (GCC 12 adds a move per accumulator and reloads rows).
      index_t k = kb;
      __asm__ volatile(
          "1:\n\t"
          "vmovdqu (%[u0],%[k]), %%ymm12\n\t"
          "vmovdqu (%[u1],%[k]), %%ymm13\n\t"
          "vmovdqu (%[u2],%[k]), %%ymm14\n\t"
          "vmovdqu (%[u3],%[k]), %%ymm15\n\t"
          "vmovdqu (%[q0],%[k]), %%ymm8\n\t"
          "vpmaddubsw %%ymm8, %%ymm12, %%ymm9\n\t"
          "vpmaddubsw %%ymm8, %%ymm13, %%ymm10\n\t"
          "vpmaddubsw %%ymm8, %%ymm14, %%ymm11\n\t"
          "vpmaddubsw %%ymm8, %%ymm15, %%ymm8\n\t"
          "vpaddw %%ymm9, %[a00], %[a00]\n\t"
          "vpaddw %%ymm10, %[a01], %[a01]\n\t"
          "vpaddw %%ymm11, %[a02], %[a02]\n\t"
          "vpaddw %%ymm8, %[a03], %[a03]\n\t"
          "vmovdqu (%[q1],%[k]), %%ymm8\n\t"
          "vpmaddubsw %%ymm8, %%ymm12, %%ymm12\n\t"
          "vpmaddubsw %%ymm8, %%ymm13, %%ymm13\n\t"
          "vpmaddubsw %%ymm8, %%ymm14, %%ymm14\n\t"
          "vpmaddubsw %%ymm8, %%ymm15, %%ymm15\n\t"
          "vpaddw %%ymm12, %[a10], %[a10]\n\t"
          "vpaddw %%ymm13, %[a11], %[a11]\n\t"
          "vpaddw %%ymm14, %[a12], %[a12]\n\t"
          "vpaddw %%ymm15, %[a13], %[a13]\n\t"
          "add $32, %[k]\n\t"
          "cmp %[kend], %[k]\n\t"
          "jl 1b\n\t"
          : [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a03] "+x"(a03), [a10] "+x"(a10), [a11] "+x"(a11),
            [a12] "+x"(a12), [a13] "+x"(a13), [k] "+r"(k)
          : [u0] "r"(u0), [u1] "r"(u1), [u2] "r"(u2), [u3] "r"(u3), [q0] "r"(q0), [q1] "r"(q1), [kend] "r"(kend)
          : "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
    } else
#endif
    for (index_t k = kb; k < kend; k += W) {
      const V w0 = G::load(u0 + k), w1 = G::load(u1 + k), w2 = G::load(u2 + k), w3 = G::load(u3 + k);
      const V x0 = G::load(q0 + k);
      a00 = G::add16(a00, G::maddubs(w0, x0));
      a01 = G::add16(a01, G::maddubs(w1, x0));
      a02 = G::add16(a02, G::maddubs(w2, x0));
      a03 = G::add16(a03, G::maddubs(w3, x0));
      if constexpr (MR == 2) {
        const V x1 = G::load(q1 + k);
        a10 = G::add16(a10, G::maddubs(w0, x1));
        a11 = G::add16(a11, G::maddubs(w1, x1));
        a12 = G::add16(a12, G::maddubs(w2, x1));
        a13 = G::add16(a13, G::maddubs(w3, x1));
      }
    }
    acc[0][0] = G::add32(acc[0][0], G::madd_ones(a00));
    acc[0][1] = G::add32(acc[0][1], G::madd_ones(a01));
    acc[0][2] = G::add32(acc[0][2], G::madd_ones(a02));
    acc[0][3] = G::add32(acc[0][3], G::madd_ones(a03));
    if constexpr (MR == 2) {
      acc[MR - 1][0] = G::add32(acc[MR - 1][0], G::madd_ones(a10));
      acc[MR - 1][1] = G::add32(acc[MR - 1][1], G::madd_ones(a11));
      acc[MR - 1][2] = G::add32(acc[MR - 1][2], G::madd_ones(a12));
      acc[MR - 1][3] = G::add32(acc[MR - 1][3], G::madd_ones(a13));
    }
  }
#else
  V acc[MR][NR];  // int32 partials
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = G::zero();
  // int16 lanes: 32 steps x (2 products of at most 3 x 128) < 32768
  for (index_t kb = 0; kb < kc; kb += 32 * W) {
    const index_t kend = kfull < kb + 32 * W ? kfull : kb + 32 * W;
    V a16[MR][NR];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) a16[i][j] = G::zero();
    index_t k = kb;
#if defined(__GNUC__) && defined(__x86_64__) && !defined(MMFREE_SIMD_NO_ASM)
    if constexpr (MR == 4 && NR == 4) {
      if (kend > kb) {
        // as in the VNNI kernel: int16 accumulators in zmm0-15 inside the asm, stored to `out`
        const void* ptr[8] = {u, u + us, u + 2 * us, u + 3 * us, q[0], q[1], q[2], q[3]};
        alignas(64) V out[16];
#define MMFREE_MA4(Q, A, B, C, D)                  \
  "vmovdqu64 (%%" Q ",%[k]), %%zmm20\n\t"         \
  "vpmaddubsw %%zmm20, %%zmm16, %%zmm21\n\t"      \
  "vpmaddubsw %%zmm20, %%zmm17, %%zmm22\n\t"      \
  "vpmaddubsw %%zmm20, %%zmm18, %%zmm23\n\t"      \
  "vpmaddubsw %%zmm20, %%zmm19, %%zmm24\n\t"      \
  "vpaddw %%zmm21, %%zmm" A ", %%zmm" A "\n\t"     \
  "vpaddw %%zmm22, %%zmm" B ", %%zmm" B "\n\t"     \
  "vpaddw %%zmm23, %%zmm" C ", %%zmm" C "\n\t"     \
  "vpaddw %%zmm24, %%zmm" D ", %%zmm" D "\n\t"
        __asm__ volatile(
            "mov (%[p]), %%r8\n\t"
            "mov 8(%[p]), %%r9\n\t"
            "mov 16(%[p]), %%r10\n\t"
            "mov 24(%[p]), %%r11\n\t"
            "mov 32(%[p]), %%r12\n\t"
            "mov 40(%[p]), %%r13\n\t"
            "mov 48(%[p]), %%r14\n\t"
            "mov 56(%[p]), %%r15\n\t"
            "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
            "vmovdqa64 %%zmm0, %%zmm1\n\t" "vmovdqa64 %%zmm0, %%zmm2\n\t" "vmovdqa64 %%zmm0, %%zmm3\n\t"
            "vmovdqa64 %%zmm0, %%zmm4\n\t" "vmovdqa64 %%zmm0, %%zmm5\n\t" "vmovdqa64 %%zmm0, %%zmm6\n\t"
            "vmovdqa64 %%zmm0, %%zmm7\n\t" "vmovdqa64 %%zmm0, %%zmm8\n\t" "vmovdqa64 %%zmm0, %%zmm9\n\t"
            "vmovdqa64 %%zmm0, %%zmm10\n\t" "vmovdqa64 %%zmm0, %%zmm11\n\t" "vmovdqa64 %%zmm0, %%zmm12\n\t"
            "vmovdqa64 %%zmm0, %%zmm13\n\t" "vmovdqa64 %%zmm0, %%zmm14\n\t" "vmovdqa64 %%zmm0, %%zmm15\n\t"
            "1:\n\t"
            "vmovdqu64 (%%r8,%[k]), %%zmm16\n\t"
            "vmovdqu64 (%%r9,%[k]), %%zmm17\n\t"
            "vmovdqu64 (%%r10,%[k]), %%zmm18\n\t"
            "vmovdqu64 (%%r11,%[k]), %%zmm19\n\t"
            MMFREE_MA4("r12", "0", "1", "2", "3") MMFREE_MA4("r13", "4", "5", "6", "7")
            MMFREE_MA4("r14", "8", "9", "10", "11") MMFREE_MA4("r15", "12", "13", "14", "15")
            "add $64, %[k]\n\t"
            "cmp %[kend], %[k]\n\t"
            "jl 1b\n\t"
            "vmovdqa64 %%zmm0, (%[o])\n\t" "vmovdqa64 %%zmm1, 64(%[o])\n\t" "vmovdqa64 %%zmm2, 128(%[o])\n\t"
            "vmovdqa64 %%zmm3, 192(%[o])\n\t" "vmovdqa64 %%zmm4, 256(%[o])\n\t" "vmovdqa64 %%zmm5, 320(%[o])\n\t"
            "vmovdqa64 %%zmm6, 384(%[o])\n\t" "vmovdqa64 %%zmm7, 448(%[o])\n\t" "vmovdqa64 %%zmm8, 512(%[o])\n\t"
            "vmovdqa64 %%zmm9, 576(%[o])\n\t" "vmovdqa64 %%zmm10, 640(%[o])\n\t" "vmovdqa64 %%zmm11, 704(%[o])\n\t"
            "vmovdqa64 %%zmm12, 768(%[o])\n\t" "vmovdqa64 %%zmm13, 832(%[o])\n\t" "vmovdqa64 %%zmm14, 896(%[o])\n\t"
            "vmovdqa64 %%zmm15, 960(%[o])\n\t"
            : [k] "+r"(k)
            : [p] "r"(ptr), [o] "r"(out), [kend] "r"(kend)
            : "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
              "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",
              "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "cc", "memory");
#undef MMFREE_MA4
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) a16[i][j] = out[4 * i + j];
      }
    }
#endif
    for (; k < kend; k += W) {
      V uv[NR];
      for (int j = 0; j < NR; ++j) uv[j] = G::load(u + j * us + k);
      for (int i = 0; i < MR; ++i) {
        const V qv = G::load(q[i] + k);
        for (int j = 0; j < NR; ++j) a16[i][j] = G::add16(a16[i][j], G::maddubs(uv[j], qv));
      }
    }
    if (kend == kfull && kfull < kc) {  // 32-byte tail
      V uv[NR];
      for (int j = 0; j < NR; ++j) uv[j] = G::load_half(u + j * us + kfull);
      for (int i = 0; i < MR; ++i) {
        const V qv = G::load_half(q[i] + kfull);
        for (int j = 0; j < NR; ++j) a16[i][j] = G::add16(a16[i][j], G::maddubs(uv[j], qv));
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] = G::add32(acc[i][j], G::madd_ones(a16[i][j]));
  }
#endif
#if MMFREE_SIMD_X86_WIDE
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) sums[i][j] += G::reduce(acc[i][j]);
#else
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      std::int32_t v;
      G::reduce(acc[i][j], &v);
      sums[i][j] += v;
    }
#endif
}

/// Unpacked rows per tile and tokens per micro-tile.
#if MMFREE_SIMD_X86_WIDE
inline constexpr int gemm_nr = 4, gemm_mr = 4;
#else
inline constexpr int gemm_nr = 4, gemm_mr = 2;
#endif

#include "gemm_driver.hpp"

// ---------------------------------------------------------------------------------------------

template <class C>
void ternary(const TernaryProblem& p, index_t n0, index_t n1, ScratchSpan scratch) {
  if (n0 >= n1) return;
  if (p.rows == 1) {
#if MMFREE_SIMD_X86_WIDE
    gemv<C, V512x2>(p, n0, n1);
#else
    gemv<C, V256>(p, n0, n1);
#endif
  } else {
    gemm<C>(p, n0, n1, scratch);
  }
}

inline void fill_ternary(simd::KernelTable& t) {
  t.ternary[int(simd::PackingId::i8)] = &ternary<I8Codec>;
  t.ternary[int(simd::PackingId::i2)] = &ternary<I2Codec>;
  t.ternary[int(simd::PackingId::tq1)] = &ternary<TQ1Codec>;
}

}  // namespace MMFREE_SIMD_NS
}  // namespace simd_impl
MMFREE_NAMESPACE_END
