// SPDX-License-Identifier: MIT
// Ternary products on AArch64 NEON, int32-exact: codes c = t + 1 in {0, 1, 2} times int8
// activations, then sum(c * q) - sum(q). Plain NEON multiplies into int16 (smlal, at most 3 * 128
// a product, flushed to int32 by sadalp long before int16 can overflow); with the dot-product
// extension, sdot goes straight to int32. A 32-byte group of a packed row is two 16-byte halves,
// each matching 16 consecutive activations per code vector (the layouts of packing/ need no change).
//
// Included by a NEON kernel TU after it defines MMFREE_SIMD_NS and MMFREE_SIMD_NEON_DOT (0/1).
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "mmfree/backend/simd/kernel_table.hpp"

#ifndef MMFREE_SIMD_NEON_DOT
#error "define MMFREE_SIMD_NEON_DOT (0: smlal, 1: sdot)"
#endif

MMFREE_NAMESPACE_BEGIN
namespace simd_impl {
namespace MMFREE_SIMD_NS {

using simd::ScratchSpan;
using simd::TernaryProblem;

/// Accumulator of sum(c * q) over 16-byte vectors.
struct Acc {
#if MMFREE_SIMD_NEON_DOT
  int32x4_t a32 = vdupq_n_s32(0);
  MMFREE_FORCEINLINE void add(uint8x16_t c, int8x16_t q) { a32 = vdotq_s32(a32, vreinterpretq_s8_u8(c), q); }
  MMFREE_FORCEINLINE void flush() {}
#else
  int16x8_t a16 = vdupq_n_s16(0);
  int32x4_t a32 = vdupq_n_s32(0);
  MMFREE_FORCEINLINE void add(uint8x16_t c, int8x16_t q) {
    const int8x16_t s = vreinterpretq_s8_u8(c);
    a16 = vmlal_s8(a16, vget_low_s8(s), vget_low_s8(q));
    a16 = vmlal_high_s8(a16, s, q);
  }
  /// int16 lanes get 2 products of at most 3 * 128 per add(): callers flush every <= 32 adds.
  MMFREE_FORCEINLINE void flush() {
    a32 = vpadalq_s16(a32, a16);
    a16 = vdupq_n_s16(0);
  }
#endif
  MMFREE_FORCEINLINE std::int32_t total() {
    flush();
    return vaddvq_s32(a32);
  }
};

// Packings: dot() multiplies one 16-byte half of a group with its activations (q points at the
// activation of the half's first code), unpack() writes a whole group's codes in natural order.

struct I8Codec {  // byte k = t_k: c = t + 1
  static constexpr index_t group_k = 32, nvec = 1, flush_groups = 16;
  static MMFREE_FORCEINLINE void dot(uint8x16_t w, const std::int8_t* q, Acc& acc) {
    acc.add(vaddq_u8(w, vdupq_n_u8(1)), vld1q_s8(q));
  }
  static void unpack(const std::uint8_t* g, std::uint8_t* out) {
    vst1q_u8(out, vaddq_u8(vld1q_u8(g), vdupq_n_u8(1)));
    vst1q_u8(out + 16, vaddq_u8(vld1q_u8(g + 16), vdupq_n_u8(1)));
  }
};

struct I2Codec {  // byte j: weights j, j+32, j+64, j+96 in bits 0-1, 2-3, 4-5, 6-7
  static constexpr index_t group_k = 128, nvec = 4, flush_groups = 4;
  static MMFREE_FORCEINLINE void dot(uint8x16_t w, const std::int8_t* q, Acc& acc) {
    const uint8x16_t m = vdupq_n_u8(3);
    acc.add(vandq_u8(w, m), vld1q_s8(q));
    acc.add(vandq_u8(vshrq_n_u8(w, 2), m), vld1q_s8(q + 32));
    acc.add(vandq_u8(vshrq_n_u8(w, 4), m), vld1q_s8(q + 64));
    acc.add(vshrq_n_u8(w, 6), vld1q_s8(q + 96));
  }
  static void unpack(const std::uint8_t* g, std::uint8_t* out) {
    const uint8x16_t m = vdupq_n_u8(3);
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t w = vld1q_u8(g + 16 * h);
      vst1q_u8(out + 16 * h, vandq_u8(w, m));
      vst1q_u8(out + 32 + 16 * h, vandq_u8(vshrq_n_u8(w, 2), m));
      vst1q_u8(out + 64 + 16 * h, vandq_u8(vshrq_n_u8(w, 4), m));
      vst1q_u8(out + 96 + 16 * h, vshrq_n_u8(w, 6));
    }
  }
};

struct TQ1Codec {  // byte j: base-3 digits of weights j + 32 s (packing/tq1.hpp)
  static constexpr index_t group_k = 160, nvec = 5, flush_groups = 4;
  /// (3 m) >> 8 for m = uint8(byte * 3^s), without leaving 8-bit lanes (see ternary_x86.hpp).
  static MMFREE_FORCEINLINE uint8x16_t digit(uint8x16_t m) {
    const uint8x16_t x = vqsubq_u8(m, vdupq_n_u8(1));
    return vshrq_n_u8(vrhaddq_u8(x, vrhaddq_u8(x, vdupq_n_u8(0))), 6);
  }
  static MMFREE_FORCEINLINE void dot(uint8x16_t w, const std::int8_t* q, Acc& acc) {
    acc.add(digit(w), vld1q_s8(q));
    acc.add(digit(vmulq_u8(w, vdupq_n_u8(3))), vld1q_s8(q + 32));
    acc.add(digit(vmulq_u8(w, vdupq_n_u8(9))), vld1q_s8(q + 64));
    acc.add(digit(vmulq_u8(w, vdupq_n_u8(27))), vld1q_s8(q + 96));
    acc.add(digit(vmulq_u8(w, vdupq_n_u8(81))), vld1q_s8(q + 128));
  }
  static void unpack(const std::uint8_t* g, std::uint8_t* out) {
    static constexpr std::uint8_t pow3[5] = {1, 3, 9, 27, 81};
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t w = vld1q_u8(g + 16 * h);
      for (int s = 0; s < 5; ++s) vst1q_u8(out + 32 * s + 16 * h, digit(vmulq_u8(w, vdupq_n_u8(pow3[s]))));
    }
  }
};

/// One token, 4 rows at a time, decoding in registers.
template <class C>
void gemv(const TernaryProblem& p, index_t n0, index_t n1) {
  constexpr int tile = 4;
  const index_t groups = p.row_bytes / 32;
  const std::int32_t qsum = p.code_sums[0];
  const float denom = p.act_scale[0] * p.w_scale;
  // Software prefetch of the tile at least 8 KiB ahead (rows of a tile are contiguous; a group
  // consumes 32 bytes of each of the 4 rows): interleaved row streams defeat hardware prefetchers.
  const index_t tile_bytes = tile * p.row_bytes;
  const index_t dist = ((8192 + tile_bytes - 1) / tile_bytes) * tile_bytes;
  for (index_t n = n0; n < n1; n += tile) {
    const std::uint8_t* rowp[tile];
    for (int j = 0; j < tile; ++j) rowp[j] = p.weights + (n + j < n1 ? n + j : n1 - 1) * p.row_bytes;
    const std::uintptr_t pf = reinterpret_cast<std::uintptr_t>(rowp[0]) + std::uintptr_t(dist);
    Acc acc[tile];
    index_t g = 0;
    while (g < groups) {
      const index_t gend = groups - g < C::flush_groups ? groups : g + C::flush_groups;
      for (; g < gend; ++g) {
        __builtin_prefetch(reinterpret_cast<const void*>(pf + std::uintptr_t(g) * 128));
        __builtin_prefetch(reinterpret_cast<const void*>(pf + std::uintptr_t(g) * 128 + 64));
        const std::int8_t* q = p.codes + g * C::group_k;
        for (int h = 0; h < 2; ++h)
          for (int j = 0; j < tile; ++j) C::dot(vld1q_u8(rowp[j] + g * 32 + 16 * h), q + 16 * h, acc[j]);
      }
      for (int j = 0; j < tile; ++j) acc[j].flush();
    }
    for (int j = 0; j < tile && n + j < n1; ++j)
      p.out[n + j] = float(acc[j].total() - qsum) / denom;  // ref::dequantize
  }
}

/// sums[i][j] += sum_k u[j][k] * q[i][k] over kc codes (a multiple of 32), MR tokens x 4 rows.
template <int MR, int NR>
MMFREE_FORCEINLINE void micro(const std::uint8_t* u, index_t us, const std::int8_t* const* q, index_t kc,
                              std::int32_t (*sums)[4]) {
  static_assert(NR == 4, "NEON micro-kernel: 4 rows");
  Acc acc[MR][4];
  for (index_t kb = 0; kb < kc; kb += 16 * 16) {  // flush every 16 steps: 16 x 2 x 384 < 32768
    const index_t kend = kc < kb + 256 ? kc : kb + 256;
    for (index_t k = kb; k < kend; k += 16) {
      uint8x16_t w[4];
      for (int j = 0; j < 4; ++j) w[j] = vld1q_u8(u + j * us + k);
      for (int i = 0; i < MR; ++i) {
        const int8x16_t x = vld1q_s8(q[i] + k);
        for (int j = 0; j < 4; ++j) acc[i][j].add(w[j], x);
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j].flush();
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) sums[i][j] += acc[i][j].total();
}

inline constexpr int gemm_nr = 4, gemm_mr = 2;
#include "gemm_driver.hpp"

template <class C>
void ternary(const TernaryProblem& p, index_t n0, index_t n1, ScratchSpan scratch) {
  if (n0 >= n1) return;
  if (p.rows == 1)
    gemv<C>(p, n0, n1);
  else
    gemm<C>(p, n0, n1, scratch);
}

inline void fill_ternary(simd::KernelTable& t) {
  t.ternary[int(simd::PackingId::i8)] = &ternary<I8Codec>;
  t.ternary[int(simd::PackingId::i2)] = &ternary<I2Codec>;
  t.ternary[int(simd::PackingId::tq1)] = &ternary<TQ1Codec>;
}

}  // namespace MMFREE_SIMD_NS
}  // namespace simd_impl
MMFREE_NAMESPACE_END
