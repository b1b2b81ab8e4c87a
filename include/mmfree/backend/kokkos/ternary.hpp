// SPDX-License-Identifier: MIT
// The ternary products of the Kokkos backend, on the CPU packings as they are (no repacking):
//
// * Decoder<P>: a packed 32-bit word of a 32-byte block yields `words` code words of four int8
//   codes each; code word s of block word w holds the codes of weights 32*s + 4*w .. +3 of the
//   block. For I2 that is (word >> 2s) & 0x03030303: two instructions per four weights.
// * GemvFunctor (decode, one activation row): every team recomputes the stage prologue (norm,
//   recurrence step, GLU...) and quantises the row into level-0 scratch, then each SIMD group
//   (a warp on CUDA) computes whole weight rows with 16-byte loads and int8 dot products (dp4a),
//   reduced with shuffles. No intermediate goes through device memory.
// * GemmFunctor (prefill and batched decode): tiles of activation codes (written by PrepFunctor)
//   and decoded weights in scratch, an MR x NR register tile of int32 sums per thread.
// Integer sums are exact, so the result equals backend::Serial's bit for bit.
#pragma once

#include <cstdint>
#include <string>

#include "../../core/concepts.hpp"
#include "../../core/quantize.hpp"
#include "../../packing/i2.hpp"
#include "../../packing/i8.hpp"
#include "../../packing/tq1.hpp"
#include "compat.hpp"
#include "program.hpp"
#include "row_kernels.hpp"

MMFREE_NAMESPACE_BEGIN
namespace kk {

/// \brief Register decoding of one packing (see the file comment). Unsupported packings stop
/// compilation here.
template <class P>
struct Decoder {
  static_assert(dependent_false<P>,
                "mmfree: backend::Kokkos has no decoder for this packing (it supports packing::I8, packing::I2 "
                "and packing::TQ1)");
};

template <>
struct Decoder<packing::I2> {
  static constexpr int words = 4;       ///< code words per packed word
  static constexpr bool offset = true;  ///< codes are t + 1 (sums need - sum(q))
  KOKKOS_INLINE_FUNCTION static std::uint32_t code(std::uint32_t w, int s) { return (w >> (2 * s)) & 0x03030303u; }
};

template <>
struct Decoder<packing::TQ1> {
  static constexpr int words = 5;
  static constexpr bool offset = true;
  KOKKOS_INLINE_FUNCTION static std::uint32_t code(std::uint32_t w, int s) {
    const unsigned p = packing::TQ1::pow3(s);
    std::uint32_t out = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned m = (((w >> (8 * i)) & 0xffu) * p) & 0xffu;  // digit s at the top of the byte
      out |= ((m * 3u) >> 8) << (8 * i);
    }
    return out;
  }
};

template <>
struct Decoder<packing::I8> {
  static constexpr int words = 1;
  static constexpr bool offset = false;
  KOKKOS_INLINE_FUNCTION static std::uint32_t code(std::uint32_t w, int) { return w; }
};

/// \brief Position of activation code k in the GEMV's scratch layout: plane s of block b holds
/// codes b*block_k + 32*s + j (j < 32) contiguously, so a lane that holds packed bytes
/// [16c, 16c+16) of a row reads the matching codes of plane s as one 16-byte vector at 16c.
template <class P>
KOKKOS_INLINE_FUNCTION index_t gemv_code_pos(index_t k, index_t nblk) {
  const index_t b = k / P::block_k, rem = k % P::block_k;
  return (rem / 32) * nblk * 32 + b * 32 + rem % 32;
}

/// \brief Decode: y[n] (+)= dequant(sum_k q[k] * t[n][k]) for one activation row, prologue fused.
template <class Ex, class P>
struct GemvFunctor {
  using D = Decoder<P>;
  static constexpr int G = SpaceTraits<Ex>::group;
  static constexpr int W = SpaceTraits<Ex>::groups;
  Stage st;

  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    team_side_copy(m, st.copy_src, st.copy_dst);
    int b = 0;
    index_t t = m.league_rank();
    while (b + 1 < st.nbl && t >= st.teams[b]) t -= st.teams[b++];
    const Ternary& w = st.bl[b];
    const index_t n0 = t * st.rows_per_team;
    const index_t n1 = n0 + st.rows_per_team < w.rows ? n0 + st.rows_per_team : w.rows;
    const index_t nblk = w.row_bytes / 32;

    unsigned char* scratch = team_scratch(m, gemv_scratch_bytes(st));
    float* xin = reinterpret_cast<float*>(scratch);
    std::int8_t* q = reinterpret_cast<std::int8_t*>(scratch + gemv_codes_offset(st));

    // Prologue, recomputed by every team (cheaper than a launch and a trip through memory).
    float* state_out = st.pro == Prologue::scan_gated && m.league_rank() == 0 ? st.staged_state : nullptr;
    const float* row = team_stage_row(m, st, 0, xin, state_out);
    const float rr = ref::rms_inv_from_sum(team_sum_sq(m, row, st.K), st.K, bitlinear_norm_eps);
    const float* nw = w.norm;
    float amax = 0.0f;
    ::Kokkos::parallel_reduce(
        ::Kokkos::TeamThreadRange(m, st.K),
        [&](index_t k, float& acc) {
          const float y = row[k] * rr * nw[k];
          const float a = y < 0.0f ? -y : y;
          acc = a > acc ? a : acc;
        },
        ::Kokkos::Max<float>(amax));
    const float sa = ref::act_scale_from_absmax(amax);
    std::int32_t qsum = 0;
    ::Kokkos::parallel_reduce(
        ::Kokkos::TeamThreadRange(m, w.kp),
        [&](index_t k, std::int32_t& acc) {
          const std::int8_t v = k < st.K ? ref::quantize_value(row[k] * rr * nw[k], sa) : std::int8_t(0);
          q[gemv_code_pos<P>(k, nblk)] = v;
          acc += v;
        },
        qsum);
    m.team_barrier();

    // One weight row per SIMD group at a time; lanes stride over 16-byte chunks of the row.
    const int lane = m.team_rank() % G, grp = m.team_rank() / G;
    const index_t nchunks = w.row_bytes / 16, plane = nblk * 32 / 16;  // in 16-byte units
    float* yb = st.y[b].p;
    for (index_t n = n0 + grp; n < n1; n += W) {
      const std::uint8_t* wrow = w.codes + n * w.row_bytes;
      std::int32_t acc = 0;
      for (index_t c = lane; c < nchunks; c += G) {
        const U4 v = load16(wrow + 16 * c);
        for (int s = 0; s < D::words; ++s) {
          const U4 a = load16(q + 16 * (s * plane + c));
          acc = dot4(D::code(v.x, s), a.x, acc);
          acc = dot4(D::code(v.y, s), a.y, acc);
          acc = dot4(D::code(v.z, s), a.z, acc);
          acc = dot4(D::code(v.w, s), a.w, acc);
        }
      }
      acc = group_sum<G>(acc);
      if (lane == 0) {
        const float v = ref::dequantize(D::offset ? acc - qsum : acc, sa, w.w_scale);
        float* o = yb + n;
        *o = st.residual ? *o + v : v;
      }
    }
  }
};

/// Tile shapes of the GEMM: TMt x TNt threads, each with an MR x NR tile of sums.
template <int TMt_, int TNt_, int MR_, int NR_>
struct GemmTile {
  static constexpr int TMt = TMt_, TNt = TNt_, MR = MR_, NR = NR_;
  static constexpr int TM = TMt * MR, TN = TNt * NR, threads = TMt * TNt;
};
/// Host spaces: one thread a team, a small tile.
template <class Ex, bool Small>
struct GemmTileFor {
  using type = GemmTile<1, 1, 4, 4>;
};
#if defined(KOKKOS_ENABLE_CUDA)
template <>
struct GemmTileFor<::Kokkos::Cuda, false> {
  using type = GemmTile<16, 16, 4, 8>;  // 64 x 128
};
template <>
struct GemmTileFor<::Kokkos::Cuda, true> {
  using type = GemmTile<8, 32, 2, 2>;  // 16 x 64 (batched decode)
};
#endif
#if defined(KOKKOS_ENABLE_HIP)
template <>
struct GemmTileFor<HipSpace, false> {
  using type = GemmTile<16, 16, 4, 8>;
};
template <>
struct GemmTileFor<HipSpace, true> {
  using type = GemmTile<8, 32, 2, 2>;
};
#endif

/// \brief Y[m][n] (+)= dequant(sum_k A[m][k] * t[n][k]) over tiles; A = codes from PrepFunctor.
template <class Ex, class P, class Tile>
struct GemmFunctor {
  using D = Decoder<P>;
  static constexpr int BPK = P::block_k >= 128 ? 1 : int(128 / P::block_k);  ///< packing blocks a K step
  static constexpr int KS = BPK * int(P::block_k);                          ///< weights a K step
  static constexpr int KSW = KS / 4 + 4;  ///< scratch row stride in words (16-byte pad: no bank conflicts)
  static constexpr int TM = Tile::TM, TN = Tile::TN;
  static constexpr std::size_t scratch_bytes = std::size_t(TM + TN) * KSW * 4;
  Stage st;
  int tiles_m = 0;
  int tiles_n[3] = {0, 0, 0};

  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    team_side_copy(m, st.copy_src, st.copy_dst);
    int b = 0;
    index_t t = m.league_rank();
    while (b + 1 < st.nbl && t >= index_t(tiles_m) * tiles_n[b]) t -= index_t(tiles_m) * tiles_n[b++];
    const Ternary& w = st.bl[b];
    const index_t m0 = (t % tiles_m) * TM, n0 = (t / tiles_m) * TN;  // m fastest: neighbours share weights
    const index_t nblk = w.row_bytes / 32, kp = w.kp, R = st.R, N = w.rows;
    const std::int8_t* A = st.codes + index_t(b) * R * kp;

    std::uint32_t* As = reinterpret_cast<std::uint32_t*>(team_scratch(m, scratch_bytes));
    std::uint32_t* Bs = As + TM * KSW;
    const int rank = m.team_rank();
    const int tm = rank / Tile::TNt, tn = rank % Tile::TNt;
    std::int32_t acc[Tile::MR][Tile::NR];
    for (int i = 0; i < Tile::MR; ++i)
      for (int j = 0; j < Tile::NR; ++j) acc[i][j] = 0;

    for (index_t kb0 = 0; kb0 < nblk; kb0 += BPK) {
      // activation codes: TM rows x KS bytes, 16 bytes at a time (zeros past R or the row's end)
      constexpr int apieces = TM * (KS / 16);
      for (int p = rank; p < apieces; p += Tile::threads) {
        const int r = p / (KS / 16), c16 = p % (KS / 16);
        const index_t mm = m0 + r, kbyte = kb0 * P::block_k + index_t(c16) * 16;
        U4 v{0, 0, 0, 0};
        if (mm < R && kbyte < kp) v = load16(A + mm * kp + kbyte);
        store16(As + r * KSW + c16 * 4, v);
      }
      // weights: TN rows x BPK blocks x 8 words, decoded to signed codes at their k positions
      constexpr int bwords = TN * BPK * 8;
      for (int p = rank; p < bwords; p += Tile::threads) {
        const int r = p / (BPK * 8), kb = (p / 8) % BPK, wi = p % 8;
        const index_t nn = n0 + r, blk = kb0 + kb;
        const bool valid = nn < N && blk < nblk;
        const std::uint32_t word =
            valid ? load4(w.codes + nn * w.row_bytes + blk * 32 + wi * 4) : 0u;
        for (int s = 0; s < D::words; ++s) {
          std::uint32_t cw = D::code(word, s);
          if (D::offset) cw = minus_one_bytes(cw);
          Bs[r * KSW + (kb * int(P::block_k) + 32 * s + 4 * wi) / 4] = valid ? cw : 0u;
        }
      }
      m.team_barrier();
      for (int kw = 0; kw < KS / 4; kw += 4) {
        U4 a[Tile::MR], bv[Tile::NR];
        for (int i = 0; i < Tile::MR; ++i) a[i] = load16(As + (tm + Tile::TMt * i) * KSW + kw);
        for (int j = 0; j < Tile::NR; ++j) bv[j] = load16(Bs + (tn + Tile::TNt * j) * KSW + kw);
        for (int i = 0; i < Tile::MR; ++i)
          for (int j = 0; j < Tile::NR; ++j) {
            std::int32_t s = acc[i][j];
            s = dot4(a[i].x, bv[j].x, s);
            s = dot4(a[i].y, bv[j].y, s);
            s = dot4(a[i].z, bv[j].z, s);
            s = dot4(a[i].w, bv[j].w, s);
            acc[i][j] = s;
          }
      }
      m.team_barrier();
    }
    const float ws = w.w_scale;
    const Mat y = st.y[b];
    for (int i = 0; i < Tile::MR; ++i) {
      const index_t mm = m0 + tm + Tile::TMt * i;
      if (mm >= R) continue;
      const float sa = st.scales[index_t(b) * R + mm];
      for (int j = 0; j < Tile::NR; ++j) {
        const index_t nn = n0 + tn + Tile::TNt * j;
        if (nn >= N) continue;
        const float v = ref::dequantize(acc[i][j], sa, ws);
        float* o = y.p + mm * y.stride + nn;
        *o = st.residual ? *o + v : v;
      }
    }
  }
};

/// Kernel names as Kokkos Tools show them: mmfree::BitLinear<i2,int8>[gemv] / [gemm].
template <class P>
const char* ternary_label(bool gemv) {
  static const std::string names[2] = {"mmfree::BitLinear<" + std::string(P::name()) + ",int8>[gemm]",
                                       "mmfree::BitLinear<" + std::string(P::name()) + ",int8>[gemv]"};
  return names[gemv ? 1 : 0].c_str();
}

template <class Ex, class P>
void launch_gemv(Launcher<Ex>& L, const Stage& st) {
  const int league = st.teams[0] + st.teams[1] + st.teams[2];
  if (league == 0) return;
  const auto pol = ::Kokkos::TeamPolicy<Ex>(L.ex, league, team_threads<Ex>)
                       .set_scratch_size(0, ::Kokkos::PerTeam(gemv_scratch_bytes(st)));
  L(ternary_label<P>(true), pol, GemvFunctor<Ex, P>{st});
}

template <class Ex, class P, class Tile>
void launch_gemm_tile(Launcher<Ex>& L, const Stage& st) {
  using F = GemmFunctor<Ex, P, Tile>;
  F f{st};
  f.tiles_m = int((st.R + Tile::TM - 1) / Tile::TM);
  index_t league = 0;
  for (int b = 0; b < st.nbl; ++b) {
    f.tiles_n[b] = int((st.bl[b].rows + Tile::TN - 1) / Tile::TN);
    league += index_t(f.tiles_m) * f.tiles_n[b];
  }
  if (league == 0) return;
  const auto pol = ::Kokkos::TeamPolicy<Ex>(L.ex, int(league), Tile::threads)
                       .set_scratch_size(0, ::Kokkos::PerTeam(F::scratch_bytes));
  L(ternary_label<P>(false), pol, f);
}

template <class Ex, class P>
void launch_gemm(Launcher<Ex>& L, const Stage& st) {
  if (st.small_tiles)
    launch_gemm_tile<Ex, P, typename GemmTileFor<Ex, true>::type>(L, st);
  else
    launch_gemm_tile<Ex, P, typename GemmTileFor<Ex, false>::type>(L, st);
}

/// The launchers of packing P on space Ex (one static table per instantiation).
template <class Ex, class P>
const TernaryOps<Ex>* ternary_ops() {
  (void)sizeof(Decoder<P>);  // unsupported packings fail here, naming the supported ones
  static const TernaryOps<Ex> ops{ternary_label<P>(true), ternary_label<P>(false), &launch_gemv<Ex, P>,
                                  &launch_gemm<Ex, P>};
  return &ops;
}

}  // namespace kk
MMFREE_NAMESPACE_END
