// SPDX-License-Identifier: MIT
// The ternary products of the Kokkos backend, on the CPU packings as they are (no repacking):
//
// * Decoder<P>: a packed 32-bit word of a 32-byte block yields `words` code words of four int8
//   codes each; code word s of block word w holds the codes of weights 32*s + 4*w .. +3 of the
//   block. For I2 that is (word >> 2s) & 0x03030303: two instructions per four weights.
// * GemvChainFunctor (decode, one activation row; PlanOptions::gemv_chain): the input arrives quantised
//   (codes, scale, code sum in a slot), each SIMD group (a warp on CUDA) computes whole weight
//   rows with 16-byte loads and int8 dot products (dp4a) reduced with shuffles, and the team
//   that finishes last quantises the next stage's input (chain_prep) for the next launch.
// * GemvFunctor (decode, the default): every team recomputes the stage prologue
//   (norm, recurrence step, GLU...) and quantises the row into level-0 scratch, then computes
//   its rows as above. No intermediate goes through device memory.
// * GemmFunctor / GemmMmaFunctor (prefill and batched decode): tiles of activation codes
//   (written by PrepFunctor) and weights decoded to signed int8 in scratch; int32 sums from
//   dp4a-style dot products, or from int8 tensor cores (mma.sync m16n8k32) on CUDA.
// Integer sums are exact, so the result equals backend::Serial's bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

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
  /// The codes of word s in place (4^s times the code, as unsigned bytes): one AND instead of a
  /// shift and an AND; an unsigned x signed dp4a per word s sums 4^s times the dot product.
  static constexpr bool in_place = true;
  KOKKOS_INLINE_FUNCTION static std::uint32_t code_in_place(std::uint32_t w, int s) { return w & (0x03030303u << (2 * s)); }
};

template <>
struct Decoder<packing::TQ1> {
  static constexpr int words = 5;
  static constexpr bool offset = true;
  static constexpr bool in_place = false;
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
  static constexpr bool in_place = false;
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

/// \brief The GEMV prologue with the row in registers: thread t < T (T = st.pro_threads, or the
/// whole team) holds elements t + T e (e < NR) of the stage input; the other threads only meet
/// the barriers, so fewer warps share the issue slots of this dependent chain. Every float step
/// is the oracle's (same expressions, same order); the norm weights come from L1 (prefetched at
/// kernel start). Codes go to q in the plane layout. Returns s_a; `qsum` gets sum(q).
/// With `wb1`, the row is also quantised for a second BitLinear (its norm weight wb1; codes q1,
/// scale *sa1, sum *qsum1): the BitLinear norm's 1/rms is shared, the maxima and sums are reduced
/// in pairs, so the second costs no barrier. Needs K <= NR * T.
template <class Ex, class P, int NR>
KOKKOS_INLINE_FUNCTION float gemv_prologue_regs(const Member<Ex>& m, TeamReducer<Ex>& red, const Stage& st,
                                                const float* wb, int kp, int nblk, std::int8_t* q,
                                                std::int32_t& qsum, float* state_out, const float* wb1 = nullptr,
                                                std::int8_t* q1 = nullptr, float* sa1 = nullptr,
                                                std::int32_t* qsum1 = nullptr) {
  // the first T threads of the team hold the row; the others only meet the barriers
  const int T = st.pro_threads > 0 && st.pro_threads < m.team_size() ? st.pro_threads : m.team_size();
  const int t0 = m.team_rank(), K = int(st.K);
  red.groups = (T + TeamReducer<Ex>::G - 1) / TeamReducer<Ex>::G;
  const bool active = t0 < T;
  float xv[NR];
  for (int e = 0; e < NR; ++e) xv[e] = 0.0f;
  const float* x = st.x.p;  // row 0
  if (active) {
    if (st.pro == Prologue::glu) {
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        xv[e] = k < K ? math::silu(x[k]) * x[K + k] : 0.0f;
      }
    } else {  // none, rmsnorm, gated, scan_gated: the row itself first
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        xv[e] = k < K ? x[k] : 0.0f;
      }
    }
  }
  if (st.pro == Prologue::rmsnorm || st.pro == Prologue::gated || st.pro == Prologue::scan_gated) {
    double s = 0.0;
    for (int e = 0; e < NR; ++e) s += double(xv[e]) * double(xv[e]);  // zeros past K add nothing
    const float r = red.rms_inv(m, s, K, st.eps1);
    const float* w1 = st.w1;
    if (active)
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        if (k >= K) break;
        if (st.pro == Prologue::rmsnorm) {
          xv[e] = xv[e] * r * w1[k];
        } else {
          float sn;
          if (st.pro == Prologue::gated) {
            sn = st.si.p[k];
          } else {
            sn = mlgru_step(st.si.p[k], st.sf.p[k], st.state.p[k], st.lb, k);
            if (state_out) state_out[k] = sn;
          }
          xv[e] = (xv[e] * r * w1[k]) * math::silu(sn);
        }
      }
  }
  // ref::norm_quantize_row on the register row
  double s2 = 0.0;
  for (int e = 0; e < NR; ++e) s2 += double(xv[e]) * double(xv[e]);  // zeros past K add nothing
  const float r2 = red.rms_inv(m, s2, K, bitlinear_norm_eps);
  const int plane = nblk * 32;
  auto pos = [plane](int k) {
    const int b = k / int(P::block_k), rem = k - b * int(P::block_k);
    return (rem >> 5) * plane + b * 32 + (rem & 31);
  };
  if (wb1 != nullptr) {  // two BitLinears (uniform branch)
    float amax[3] = {0.0f, 0.0f, 0.0f};
    if (active)
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        if (k >= K) break;
        const float y0 = xv[e] * r2 * wb[k], y1 = xv[e] * r2 * wb1[k];
        const float a0 = y0 < 0.0f ? -y0 : y0, a1 = y1 < 0.0f ? -y1 : y1;
        amax[0] = a0 > amax[0] ? a0 : amax[0];
        amax[1] = a1 > amax[1] ? a1 : amax[1];
      }
    red.max3(m, amax);
    const float sa = ref::act_scale_from_absmax(amax[0]);
    *sa1 = ref::act_scale_from_absmax(amax[1]);
    std::int32_t total[3] = {0, 0, 0};
    if (active) {
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        if (k >= kp) break;
        const std::int8_t c0 = k < K ? ref::quantize_value(xv[e] * r2 * wb[k], sa) : std::int8_t(0);
        const std::int8_t c1 = k < K ? ref::quantize_value(xv[e] * r2 * wb1[k], *sa1) : std::int8_t(0);
        const int at = pos(k);
        q[at] = c0, q1[at] = c1;
        total[0] += c0, total[1] += c1;
      }
      for (int k = t0 + T * NR; k < kp; k += T) q[pos(k)] = q1[pos(k)] = 0;  // padding past NR * T
    }
    red.sum3(m, total);  // (its barrier also publishes q and q1)
    qsum = total[0], *qsum1 = total[1];
    red.groups = max_groups;
    return sa;
  }
  float amax = 0.0f;
  if (active)
    for (int e = 0; e < NR; ++e) {
      const int k = t0 + T * e;
      if (k >= K) break;
      const float y = xv[e] * r2 * wb[k];
      const float a = y < 0.0f ? -y : y;
      amax = a > amax ? a : amax;
    }
  const float sa = ref::act_scale_from_absmax(red.max(m, amax));
  std::int32_t total = 0;
  if (active) {
    for (int e = 0; e < NR; ++e) {  // constant register indices (no local memory)
      const int k = t0 + T * e;
      if (k >= kp) break;
      const std::int8_t c = k < K ? ref::quantize_value(xv[e] * r2 * wb[k], sa) : std::int8_t(0);
      q[pos(k)] = c;
      total += c;
    }
    for (int k = t0 + T * NR; k < kp; k += T) q[pos(k)] = 0;  // padding past NR * T
  }
  qsum = red.sum(m, total);  // (its barrier also publishes q)
  red.groups = max_groups;
  return sa;
}

/// log2 of a power of two.
KOKKOS_INLINE_FUNCTION constexpr int ilog2(int v) {
  int s = 0;
  while ((1 << s) < v) ++s;
  return s;
}

/// Lanes of a SIMD group that share one weight row of `nchunks` 16-byte chunks in the chained
/// GEMV: the whole group, halved (down to 4) while half of it still covers the row, so short
/// rows (K = 1024: 16 chunks) keep every lane busy with two rows at a time.
template <int G>
KOKKOS_INLINE_FUNCTION int gemv_lanes_per_row(int nchunks) {
  int l = G;
  while (l > 4 && l / 2 >= nchunks) l /= 2;
  return l;
}

/// \brief Decode: y[n] (+)= dequant(sum_k q[k] * t[n][k]) for one activation row, prologue fused.
///
/// Each SIMD group (a warp on CUDA) computes `rows_per_group` consecutive units of rows (a row,
/// or the two rows of a Stage::epi unit), in passes of 2^rsh rows with `lanes_per_row` lanes
/// each. A lane's work is a list of items (pass, round r): 16 packed bytes, chunk l + lpr r of
/// its row, against the matching activation codes. The first `PRE` items' loads are issued
/// before the prologue, so their memory latency overlaps the norm and quantisation that every
/// team recomputes, and each item consumed issues the load `PRE` items ahead. The team size is a launch parameter (up to
/// 1024 threads on GPUs: the prologue's dependent chain is split over more threads).
template <class Ex, class P, int NR>
struct GemvFunctor {
  using D = Decoder<P>;
  static constexpr int G = SpaceTraits<Ex>::group;
  static constexpr int PRE = SpaceTraits<Ex>::gpu ? 4 : 1;  ///< weight loads a lane keeps in flight
  Stage st;

  KOKKOS_INLINE_FUNCTION static std::size_t scratch_bytes(const Stage& st) {
    return gemv_scratch_bytes(st, NR == 0) + TeamReducer<Ex>::scratch_bytes;
  }

  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    // 32-bit index arithmetic (a weight matrix is far below 2^31 bytes; checked at launch)
    // Parts of the launch (st.teams[p] teams each): one per BitLinear, or with the MLGRU epilogue
    // part 0 = the i and f rows (units of two rows), part 1 = the third BitLinear.
    const bool mlgru = st.epi == Epilogue::mlgru, glu = st.epi == Epilogue::glu;
    int part = 0, t = m.league_rank();
    while (part + 1 < (mlgru ? 2 : st.nbl) && t >= st.teams[part]) t -= st.teams[part++];
    const bool pair = mlgru && part == 0;
    const int b0 = !mlgru ? part : pair ? st.e_i : 3 - st.e_i - st.e_f;  // the (first) BitLinear
    const int b1 = pair ? st.e_f : b0;                                  // the second row of a unit
    const Ternary& w = st.bl[b0];
    const int groups = m.team_size() / G, rank = m.team_rank();
    const int lane = rank % G, grp = rank / G;
    // A group computes units of rows: one row; or two, in this order: with the GLU epilogue rows
    // n and E + n of u (E = half), in the MLGRU pair rows n of i and of f. Row j of the group's
    // list is row g0 + (j >> ush) of BitLinear (j & ush ? b1 : b0), offset by E for the GLU's up.
    const int half = glu ? int(st.e_out.cols) : 0, ush = glu || pair ? 1 : 0;
    const int rpg = st.rows_per_group, nunits = glu ? half : int(w.rows), row_bytes = int(w.row_bytes);
    const int g0 = (t * groups + grp) * rpg;  // this group's units: [g0, g1)
    const int g1 = g0 + rpg < nunits ? g0 + rpg : nunits;
    // A pass of the group computes 2^rsh rows of lpr lanes each (st.lanes_per_row; a lane
    // computes chunks l, l + lpr, ... of row (pass << rsh) + sub of the group's list).
    const int nchunks = row_bytes / 16;
    const int lpr = st.lanes_per_row > 0 && st.lanes_per_row < G ? st.lanes_per_row : G, lsh = ilog2(lpr);
    const int rsh = ilog2(G) - lsh, sub = lane >> lsh, l = lane & (lpr - 1);
    const int rounds = (nchunks + lpr - 1) >> lsh;
    const int nrows = g1 > g0 ? (g1 - g0) << ush : 0;
    const int nitems = ((nrows + (1 << rsh) - 1) >> rsh) * rounds;  // (pass, round); uniform over the group
    const std::size_t first = std::size_t(g0 > nunits ? nunits : g0) * std::size_t(row_bytes) + 16 * l;
    const std::uint8_t* rows0 = w.codes + first;
    const std::uint8_t* rows1 = glu ? rows0 + std::size_t(half) * std::size_t(row_bytes) : st.bl[b1].codes + first;
    auto row_at = [&](int j) { return (j & ush ? rows1 : rows0) + (j >> ush) * row_bytes; };

    // items are (pass, round) in pass-major order. The loader walks PRE items ahead of the one
    // consumed: pass nj, round ni, pointer lp; a lane has a chunk in its first `lrounds` rounds.
    const int step = 16 * lpr, lrounds = l < nchunks ? ((nchunks - 1 - l) >> lsh) + 1 : 0;
    int nj = 0, ni = 0;
    bool lrow = sub < nrows;
    const std::uint8_t* lp = row_at(lrow ? sub : 0);
    auto next_load = [&]() {
      lp += step;
      if (++ni == rounds) {
        ni = 0, ++nj;
        const int r = (nj << rsh) + sub;
        lrow = r < nrows;
        if (lrow) lp = row_at(r);
      }
    };
    U4 buf[PRE];
    for (int u = 0; u < PRE; ++u) {
      buf[u] = U4{0, 0, 0, 0};
      if (u < nitems && ni < lrounds && lrow) buf[u] = load16(lp);
      next_load();
    }

    if (st.prefetch) {
      team_prefetch_stage_weights<Ex>(m, st, w.norm);
      if (pair) team_prefetch<Ex>(m, st.bl[b1].norm, st.K);
    }
    // Up to here only weights and the launch's arguments were read, nothing written: a graph
    // may have started this kernel while the previous one runs (Options::programmatic).
    grid_dependency_wait();
    grid_dependents_may_start();
    if (st.prefetch) team_prefetch_stage_inputs<Ex>(m, st, 0);
    team_side_copy<Ex>(m, st.copy_src, st.copy_dst);
    unsigned char* scratch = team_scratch(m, scratch_bytes(st));
    TeamReducer<Ex> red(scratch + gemv_scratch_bytes(st, NR == 0));
    std::int8_t* q = reinterpret_cast<std::int8_t*>(scratch);
    std::int8_t* q1 = q + gemv_row_offset(st) / 2;  // MLGRU pair: the second code set

    // prologue (recomputed by every team: cheaper than a launch and a trip through memory)
    float* state_out = st.pro == Prologue::scan_gated && m.league_rank() == 0 ? st.staged_state : nullptr;
    const int nblk = row_bytes / 32;
    std::int32_t qsum = 0, qsum1 = 0;
    float sa, sa1 = 0.0f;
    if constexpr (NR > 0) {
      if (pair)
        sa = gemv_prologue_regs<Ex, P, NR>(m, red, st, w.norm, int(w.kp), nblk, q, qsum, state_out, st.bl[b1].norm,
                                           q1, &sa1, &qsum1);
      else
        sa = gemv_prologue_regs<Ex, P, NR>(m, red, st, w.norm, int(w.kp), nblk, q, qsum, state_out);
    } else {  // long rows: through scratch
      float* xin = reinterpret_cast<float*>(scratch + gemv_row_offset(st));
      const float* row = team_stage_row<Ex>(m, red, st, 0, xin, state_out);
      auto at = [nblk](index_t k) { return gemv_code_pos<P>(k, nblk); };
      sa = team_norm_quantize<Ex>(m, red, row, w.norm, st.K, w.kp, q, &qsum, at);
      if (pair) sa1 = team_norm_quantize<Ex>(m, red, row, st.bl[b1].norm, st.K, w.kp, q1, &qsum1, at);
    }

    const int plane = nblk * 32;  // bytes per code plane
    const float w_scale0 = w.w_scale, w_scale1 = st.bl[b1].w_scale;
    const bool residual = st.residual;
    float* y0 = st.y[b0].p + g0;
    float* y1 = glu ? y0 + half : st.y[b1].p + g0;
    float* vb = glu ? st.e_out.p + g0 : nullptr;
    float first_y = 0.0f;  // two-row units, one row a pass: y of the unit's first row (l == 0)
    // the consumer: pass j, round i, codes pointer qp (f's codes for the MLGRU pair's odd rows)
    const std::int8_t* qb0 = q + 16 * l;
    const std::int8_t* qb1 = q1 + 16 * l;
    int j = 0, i = 0, jr = sub;
    bool second = pair && (jr & 1);
    const std::int8_t* qp = second ? qb1 : qb0;
    std::int32_t acc[D::in_place ? D::words : 1] = {};
    for (int base = 0; base < nitems; base += PRE) {
      for (int u = 0; u < PRE; ++u) {  // unrolled: buf is indexed by constants only
        if (base + u >= nitems) break;  // uniform over the group
        const U4 v = buf[u];
        buf[u] = U4{0, 0, 0, 0};
        if (base + u + PRE < nitems && ni < lrounds && lrow) buf[u] = load16(lp);
        next_load();
        if (i < lrounds && jr < nrows) {
          for (int s = 0; s < D::words; ++s) {
            const U4 a = load16(qp + s * plane);
            if constexpr (D::in_place) {  // 4^s x the dot product of word s's codes
              acc[s] = dot4_us(D::code_in_place(v.x, s), a.x, acc[s]);
              acc[s] = dot4_us(D::code_in_place(v.y, s), a.y, acc[s]);
              acc[s] = dot4_us(D::code_in_place(v.z, s), a.z, acc[s]);
              acc[s] = dot4_us(D::code_in_place(v.w, s), a.w, acc[s]);
            } else {
              acc[0] = dot4(D::code(v.x, s), a.x, acc[0]);
              acc[0] = dot4(D::code(v.y, s), a.y, acc[0]);
              acc[0] = dot4(D::code(v.z, s), a.z, acc[0]);
              acc[0] = dot4(D::code(v.w, s), a.w, acc[0]);
            }
          }
        }
        qp += step;
        if (++i == rounds) {  // the pass's rows done (uniform over the group)
          std::int32_t sum = acc[0];
          if constexpr (D::in_place)  // exact: acc[s] is a multiple of 4^s
            for (int s = 1; s < D::words; ++s) sum += acc[s] >> (2 * s);
          const std::int32_t total = segment_sum<G>(sum, lpr);
          const float y = second ? ref::dequantize(D::offset ? total - qsum1 : total, sa1, w_scale1)
                                 : ref::dequantize(D::offset ? total - qsum : total, sa, w_scale0);
          // two-row units with several rows a pass: a unit's rows are sub-rows 2s, 2s + 1
          const float other = ush && rsh > 0 ? group_shfl_xor<G>(y, lpr) : 0.0f;
          if (l == 0 && jr < nrows) {
            const int n = jr >> ush;  // unit (row) of the group
            const float y_first = rsh > 0 ? other : first_y;
            if (!(jr & ush)) {
              first_y = y;
              if (!pair) y0[n] = residual ? y0[n] + y : y;  // (i is written below, as the new state)
            } else if (glu) {  // up row: u as usual, and the next stage's GLU as Prologue::glu has it
              y1[n] = y;
              vb[n] = math::silu(y_first) * y;
            } else {  // f row: f as usual, and the recurrence step as the scan hook has it
              y1[n] = y;
              const int d = g0 + n;
              const float h = mlgru_step(y_first, y, st.e_state.p[d], st.e_lb, d);
              st.e_state.p[d] = h;
              y0[n] = h;
            }
          }
          for (int s = 0; s < (D::in_place ? D::words : 1); ++s) acc[s] = 0;
          i = 0, ++j;
          jr = (j << rsh) + sub;
          second = pair && (jr & 1);
          qp = second ? qb1 : qb0;
        }
      }
    }
  }
};

/// \brief What chain_prep needs of a stage, compact (kernel arguments are read through the
/// constant cache: every line a kernel touches first costs a miss).
struct PrepArgs {
  const float* x = nullptr;  ///< prologue input row (glu: 2K values)
  const float* si = nullptr;
  const float* sf = nullptr;
  float* state = nullptr;
  const float* lb = nullptr;
  const float* w1 = nullptr;
  const float* norm[3] = {nullptr, nullptr, nullptr};  ///< each BitLinear's norm weight
  float* xbuf = nullptr;                               ///< NR == 0: the f32 row
  std::int8_t* codes = nullptr;
  float* scales = nullptr;
  std::int32_t* qsums = nullptr;
  int code_stride = 0, K = 0, kp = 0, nblk = 0, nbl = 0;  ///< nbl == 0: nothing to do
  float eps1 = 0.0f;
  Prologue pro = Prologue::none;
};

/// The PrepArgs of a chained stage (its slot pointers set).
inline PrepArgs prep_args(const Stage& st) {
  PrepArgs a;
  a.x = st.x.p, a.si = st.si.p, a.sf = st.sf.p, a.state = st.state.p, a.lb = st.lb, a.w1 = st.w1;
  for (int b = 0; b < st.nbl; ++b) a.norm[b] = st.bl[b].norm;
  a.xbuf = st.xbuf, a.codes = st.codes, a.scales = st.scales, a.qsums = st.qsums;
  a.code_stride = int(st.code_stride), a.K = int(st.K), a.kp = int(st.bl[0].kp), a.nblk = int(st.bl[0].row_bytes / 32);
  a.nbl = st.nbl, a.eps1 = st.eps1, a.pro = st.pro;
  return a;
}

/// \brief Quantises a chained stage's input once (GEMV chain): the prologue (norm, recurrence
/// step, gated norm, GLU), then ref::norm_quantize_row for each BitLinear of the stage, into the
/// stage's slot: codes (plane layout, as the GEMV reads them), scales and code sums. The new
/// recurrent state (scan_gated) goes straight to the state: one team owns the whole row.
///
/// Team-collective, one team. Inputs may have been written by other teams of the same kernel
/// (the last-team hand-off): they are read with load_coherent. NR > 0: the row lives in
/// registers, thread t holding elements t + T e (needs K <= NR * T); each phase issues all its
/// loads before the first use (stores through int8 pointers may alias anything: a load after
/// one would wait a whole memory latency). NR == 0: through a.xbuf (host spaces, long rows).
/// Every float step is the oracle's (same expressions, same order).
template <class Ex, class P, int NR>
KOKKOS_INLINE_FUNCTION void chain_prep(const Member<Ex>& m, TeamReducer<Ex>& red, const PrepArgs& a) {
  const int nblk = a.nblk, kp = a.kp, K = a.K, nbl = a.nbl;
  auto pos = [nblk](int k) {
    const int b = k / int(P::block_k), rem = k - b * int(P::block_k);
    return (rem >> 5) * nblk * 32 + b * 32 + (rem & 31);
  };
  if constexpr (NR == 0) {
    Stage st;
    st.pro = a.pro, st.x.p = const_cast<float*>(a.x), st.si.p = const_cast<float*>(a.si), st.sf.p = const_cast<float*>(a.sf);
    st.state.p = a.state, st.lb = a.lb, st.w1 = a.w1, st.eps1 = a.eps1, st.K = K;
    const float* row = team_stage_row<Ex>(m, red, st, 0, a.xbuf, a.pro == Prologue::scan_gated ? a.state : nullptr, true);
    for (int b = 0; b < nbl; ++b) {
      std::int32_t qsum = 0;
      const float sa = team_norm_quantize<Ex>(m, red, row, a.norm[b], K, kp, a.codes + b * a.code_stride, &qsum,
                                              [pos](index_t k) { return index_t(pos(int(k))); });
      if (m.team_rank() == 0) a.scales[b] = sa, a.qsums[b] = qsum;
    }
  } else {
    const int T = m.team_size(), t0 = m.team_rank();
    const Prologue pro = a.pro;
    float xv[NR], sn[NR], w1v[NR];
    // phase 1: the prologue's inputs, all loads first (the norm weights of phase 3 into L1)
    for (int e = 0; e < NR; ++e) {
      const int k = t0 + T * e;
      xv[e] = k < K ? load_coherent(a.x + k) : 0.0f;
      sn[e] = 0.0f, w1v[e] = 0.0f;
      if ((t0 & 31) == 0 && k < K)
        for (int b = 0; b < nbl; ++b) prefetch_line(a.norm[b] + k);
    }
    if (pro == Prologue::glu) {
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        sn[e] = k < K ? load_coherent(a.x + K + k) : 0.0f;
      }
    } else if (pro == Prologue::rmsnorm) {
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        w1v[e] = k < K ? a.w1[k] : 0.0f;
      }
    } else if (pro == Prologue::gated) {
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        w1v[e] = k < K ? a.w1[k] : 0.0f;
        sn[e] = k < K ? load_coherent(a.si + k) : 0.0f;
      }
    } else if (pro == Prologue::scan_gated) {
      float iv[NR], fv[NR], sv[NR];
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        w1v[e] = k < K ? a.w1[k] : 0.0f;
        iv[e] = k < K ? load_coherent(a.si + k) : 0.0f;
        fv[e] = k < K ? load_coherent(a.sf + k) : 0.0f;
        sv[e] = k < K ? load_coherent(a.state + k) : 0.0f;
      }
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        if (k < K) sn[e] = mlgru_step(iv[e], fv[e], sv[e], a.lb, k);
      }
      for (int e = 0; e < NR; ++e) {  // (this thread's own channels)
        const int k = t0 + T * e;
        if (k < K) a.state[k] = sn[e];
      }
    }
    // phase 2: the prologue
    if (pro == Prologue::glu) {
      for (int e = 0; e < NR; ++e) xv[e] = t0 + T * e < K ? math::silu(xv[e]) * sn[e] : 0.0f;
    } else if (pro != Prologue::none) {
      double s = 0.0;
      for (int e = 0; e < NR; ++e) s += double(xv[e]) * double(xv[e]);  // zeros past K add nothing
      const float r = red.rms_inv_all(m, s, K, a.eps1);
      for (int e = 0; e < NR; ++e)
        xv[e] = pro == Prologue::rmsnorm ? xv[e] * r * w1v[e] : (xv[e] * r * w1v[e]) * math::silu(sn[e]);
    }
    // phase 3: ref::norm_quantize_row for each BitLinear: one RMS, the maxima and sums at once
    float wb[3][NR];
    for (int b = 0; b < 3; ++b)
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        wb[b][e] = b < nbl && k < K ? a.norm[b][k] : 0.0f;
      }
    double s2 = 0.0;
    for (int e = 0; e < NR; ++e) s2 += double(xv[e]) * double(xv[e]);
    const float r2 = red.rms_inv_all(m, s2, K, bitlinear_norm_eps);
    float amax[3] = {0.0f, 0.0f, 0.0f};
    for (int b = 0; b < 3; ++b)
      for (int e = 0; e < NR; ++e) {
        const float y = xv[e] * r2 * wb[b][e];  // 0 past K and past nbl
        const float v = y < 0.0f ? -y : y;
        amax[b] = v > amax[b] ? v : amax[b];
      }
    red.max3(m, amax);
    float sa[3];
    for (int b = 0; b < 3; ++b) sa[b] = ref::act_scale_from_absmax(amax[b]);
    std::int32_t total[3] = {0, 0, 0};
    std::int8_t qv[3][NR];
    for (int b = 0; b < 3; ++b)
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        qv[b][e] = k < K ? ref::quantize_value(xv[e] * r2 * wb[b][e], sa[b]) : std::int8_t(0);
        total[b] += qv[b][e];
      }
    for (int b = 0; b < 3; ++b) {
      if (b >= nbl) break;
      std::int8_t* q = a.codes + b * a.code_stride;
      for (int e = 0; e < NR; ++e) {
        const int k = t0 + T * e;
        if (k < kp) q[pos(k)] = qv[b][e];
      }
      for (int k = t0 + T * NR; k < kp; k += T) q[pos(k)] = 0;  // padding past NR * T
    }
    red.sum3(m, total);
    if (t0 == 0)
      for (int b = 0; b < nbl; ++b) a.scales[b] = sa[b], a.qsums[b] = total[b];
  }
}

/// What the chained GEMV needs of its stage, compact (see PrepArgs).
struct GemvArgs {
  const std::uint8_t* w[3] = {nullptr, nullptr, nullptr};  ///< packed rows of each BitLinear
  float* y[3] = {nullptr, nullptr, nullptr};
  float w_scale[3] = {1.0f, 1.0f, 1.0f};
  int rows[3] = {0, 0, 0};
  int teams[3] = {0, 0, 0};
  const std::int8_t* q = nullptr;  ///< the stage's slot: codes, scales, code sums
  const float* scales = nullptr;
  const std::int32_t* qsums = nullptr;
  int* counter = nullptr;
  const std::uint8_t* pf[3] = {nullptr, nullptr, nullptr};  ///< the next stage's weights (L2 prefetch)
  int pf_lines[3] = {0, 0, 0};                              ///< ... in 128-byte lines
  int code_stride = 0, row_bytes = 0, nbl = 0, rows_per_group = 1;
  int lpr_shift = 0;  ///< log2 of the lanes a row (gemv_lanes_per_row)
  int rounds = 1;     ///< 16-byte chunks of a row a lane computes
  bool residual = false;
};

/// \brief Decode GEMV of a chained stage: y[n] (+)= dequant(sum_k q[k] * t[n][k]) with the input
/// already quantised (the slot's codes, scales and code sums), so every team goes straight to
/// its weight rows. Each SIMD group computes `rows_per_group` consecutive rows, `lpr` lanes a row
/// (gemv_lanes_per_row); a lane's items (row, 16-byte chunk) are loaded four at a time before
/// any is used (launches size groups so most lanes have at most four), dp4a against the codes
/// (read from global memory: L1-resident after the first team), then a segmented shuffle sum.
///
/// When `nx.nbl > 0` the team that finishes last (an atomic count behind a barrier and a fence,
/// as a grid barrier does) then quantises the input of the next stage (chain_prep), which reads
/// this launch's output: one team does what every team of the fused GEMV recomputed.
template <class Ex, class P, int NR>
struct GemvChainFunctor {
  using D = Decoder<P>;
  static constexpr int G = SpaceTraits<Ex>::group;
  static constexpr int B = 4;  ///< items loaded at once
  static constexpr std::size_t scratch_bytes = TeamReducer<Ex>::scratch_bytes + 16;
  GemvArgs a;
  PrepArgs nx;

  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    int b = 0, t = m.league_rank();
    if (a.nbl > 1 && t >= a.teams[0]) {
      t -= a.teams[0], b = 1;
      if (a.nbl > 2 && t >= a.teams[1]) t -= a.teams[1], b = 2;
    }
    // no integer division: lanes a row and rows a step are powers of two (shifts)
    constexpr int gs = ilog2(G);
    const int rank = m.team_rank(), lane = rank & (G - 1), grp = rank >> gs, groups = m.team_size() >> gs;
    const int ls = a.lpr_shift, lpr = 1 << ls, rs = gs - ls, rpw = 1 << rs;
    const int sub = lane >> ls, sl = lane & (lpr - 1);
    const int row_bytes = a.row_bytes, nchunks = row_bytes >> 4, rounds = a.rounds;
    const int rpg = a.rows_per_group;
    const int g0 = (t * groups + grp) * rpg;
    const int g1 = g0 + rpg < a.rows[b] ? g0 + rpg : a.rows[b];
    const int nitems = g1 > g0 ? ((g1 - g0 + rpw - 1) >> rs) * rounds : 0;  // uniform over the group
    const int my_rows = g1 - g0 - sub;  // rows of this lane: sub, sub + rpw, ... below g1 - g0
    const std::uint8_t* wl = a.w[b] + (g0 + sub) * row_bytes + 16 * sl;
    const std::int8_t* ql = a.q + b * a.code_stride + 16 * sl;
    const float sa = a.scales[b], w_scale = a.w_scale[b];
    const std::int32_t qsum = a.qsums[b];
    float* yl = a.y[b] + g0 + sub;
    const int step_bytes = rpw * row_bytes, chunk_bytes = 16 * lpr;
    if (nitems > 0)  // the codes of the first round into L1 while the weights load
      for (int s = 0; s < D::words; ++s) prefetch_line(ql + s * row_bytes);
    std::int32_t acc = 0;
    int j = 0, i = 0;  // the next item to compute: row step j, round i
    for (int base = 0; base < nitems; base += B) {
      U4 v[B];
      int lj = j, li = i;
      for (int u = 0; u < B; ++u) {  // loads first
        const bool ok = base + u < nitems && rpw * lj < my_rows && sl + lpr * li < nchunks;
        v[u] = ok ? load16(wl + lj * step_bytes + li * chunk_bytes) : U4{0, 0, 0, 0};
        if (++li == rounds) li = 0, ++lj;
      }
      for (int u = 0; u < B; ++u) {
        if (base + u >= nitems) break;  // uniform over the group
        if (rpw * j < my_rows && sl + lpr * i < nchunks) {
          const std::int8_t* qc = ql + i * chunk_bytes;
          for (int s = 0; s < D::words; ++s) {
            const U4 q = load16(qc + s * row_bytes);  // code plane s (row_bytes apart)
            acc = dot4(D::code(v[u].x, s), q.x, acc);
            acc = dot4(D::code(v[u].y, s), q.y, acc);
            acc = dot4(D::code(v[u].z, s), q.z, acc);
            acc = dot4(D::code(v[u].w, s), q.w, acc);
          }
        }
        if (++i == rounds) {  // a step's rows done (uniform over the group)
          const std::int32_t total = segment_sum<G>(acc, lpr);
          if (sl == 0 && rpw * j < my_rows) {
            const float y = ref::dequantize(D::offset ? total - qsum : total, sa, w_scale);
            float* o = yl + rpw * j;
            *o = a.residual ? *o + y : y;
          }
          acc = 0, i = 0, ++j;
        }
      }
    }
    if constexpr (SpaceTraits<Ex>::gpu) {  // the next stage's weights into L2, spread over all threads
      const int stride = int(m.league_size()) * m.team_size();
      int l = int(m.league_rank()) * m.team_size() + rank;
      for (int p = 0; p < 3; ++p) {
        for (; l < a.pf_lines[p]; l += stride) prefetch_l2(a.pf[p] + 128 * l);
        l -= a.pf_lines[p];
      }
    }
    if (nx.nbl == 0) return;
    // hand-off (the pattern of a grid barrier): the team's outputs, ordered before thread 0 by
    // the barrier, are released by its atomic; the last team's thread 0 acquires everyone's
    unsigned char* scratch = team_scratch(m, scratch_bytes);
    int* last = reinterpret_cast<int*>(scratch + TeamReducer<Ex>::scratch_bytes);
    m.team_barrier();
    if (rank == 0) {
      const bool is_last = atomic_inc_acq_rel(a.counter) == int(m.league_size()) - 1;
      if (is_last) *a.counter = 0;  // ready for the next launch (kernels are ordered)
      *last = is_last ? 1 : 0;
    }
    m.team_barrier();
    if (*last == 0) return;  // team-uniform
    TeamReducer<Ex> red(scratch);
    chain_prep<Ex, P, NR>(m, red, nx);
  }
};

/// One team quantises the input of a chained stage whose predecessor is not a chained GEMV.
template <class Ex, class P, int NR>
struct GemvPrepFunctor {
  static constexpr std::size_t scratch_bytes = TeamReducer<Ex>::scratch_bytes;
  PrepArgs a;
  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    TeamReducer<Ex> red(team_scratch(m, scratch_bytes));
    chain_prep<Ex, P, NR>(m, red, a);
  }
};

/// \brief Weight and activation tiles of the GEMMs for one K step: A = TM rows x KS codes,
/// B = TN weight rows decoded to signed codes, each row KSW words apart in team scratch.
template <class P>
struct GemmTiles {
  using D = Decoder<P>;
  static constexpr int BPK = P::block_k >= 128 ? 1 : int(128 / P::block_k);  ///< packing blocks a K step
  static constexpr int KS = BPK * int(P::block_k);                          ///< weights a K step
  static constexpr int KSW = KS / 4 + 4;  ///< row stride in words (16-byte pad: conflict-free reads)

  template <int TM, int TN, class Member>
  KOKKOS_INLINE_FUNCTION static void load(const Member& m, std::uint32_t* As, std::uint32_t* Bs, const std::int8_t* A,
                                          index_t R, index_t m0, const Ternary& w, index_t n0, index_t kb0) {
    const int rank = m.team_rank(), T = m.team_size();
    const index_t nblk = w.row_bytes / 32, kp = w.kp;
    // activation codes: TM rows x KS bytes, 16 bytes at a time (zeros past R or the row's end)
    constexpr int apieces = TM * (KS / 16);
    for (int p = rank; p < apieces; p += T) {
      const int r = p / (KS / 16), c16 = p % (KS / 16);
      const index_t mm = m0 + r, kbyte = kb0 * P::block_k + index_t(c16) * 16;
      U4 v{0, 0, 0, 0};
      if (mm < R && kbyte < kp) v = load16(A + mm * kp + kbyte);
      store16(As + r * KSW + c16 * 4, v);
    }
    // weights: TN rows x BPK blocks x 8 words, decoded to signed codes at their k positions
    constexpr int bwords = TN * BPK * 8;
    for (int p = rank; p < bwords; p += T) {
      const int r = p / (BPK * 8), kb = (p / 8) % BPK, wi = p % 8;
      const index_t nn = n0 + r, blk = kb0 + kb;
      const bool valid = nn < w.rows && blk < nblk;
      const std::uint32_t word = valid ? load4(w.codes + nn * w.row_bytes + blk * 32 + wi * 4) : 0u;
      for (int s = 0; s < D::words; ++s) {
        std::uint32_t cw = D::code(word, s);
        if (D::offset) cw = minus_one_bytes(cw);
        Bs[r * KSW + (kb * int(P::block_k) + 32 * s + 4 * wi) / 4] = valid ? cw : 0u;
      }
    }
  }
};

/// Tile shapes of the dp4a GEMM: TMt x TNt threads, each with an MR x NR tile of sums.
template <int TMt_, int TNt_, int MR_, int NR_>
struct GemmTile {
  static constexpr int TMt = TMt_, TNt = TNt_, MR = MR_, NR = NR_;
  static constexpr int TM = TMt * MR, TN = TNt * NR, threads = TMt * TNt;
};
/// Tile of size class `C` (0 large, 1 medium, 2 small) on space Ex. Host spaces: one thread a team.
template <class Ex, int C>
struct GemmTileFor {
  using type = GemmTile<1, 1, 4, 4>;
};
template <class Ex>
  requires(SpaceTraits<Ex>::gpu)
struct GemmTileFor<Ex, 0> {
  using type = GemmTile<16, 16, 4, 8>;  // 64 x 128
};
template <class Ex>
  requires(SpaceTraits<Ex>::gpu)
struct GemmTileFor<Ex, 1> {
  using type = GemmTile<16, 16, 2, 4>;  // 32 x 64: more teams for small grids
};
template <class Ex>
  requires(SpaceTraits<Ex>::gpu)
struct GemmTileFor<Ex, 2> {
  using type = GemmTile<8, 32, 2, 2>;  // 16 x 64: batched decode
};

/// Which BitLinear of the stage and which tile a team of a GEMM computes.
KOKKOS_INLINE_FUNCTION void gemm_team_tile(const Stage& st, int tiles_m, const int* tiles_n, index_t league_rank, int TM,
                                           int TN, int& b, index_t& m0, index_t& n0) {
  b = 0;
  index_t t = league_rank;
  while (b + 1 < st.nbl && t >= index_t(tiles_m) * tiles_n[b]) t -= index_t(tiles_m) * tiles_n[b++];
  m0 = (t % tiles_m) * TM;  // m fastest: neighbouring teams share the weight tile
  n0 = (t / tiles_m) * TN;
}

/// \brief Y[m][n] (+)= dequant(sum_k A[m][k] * t[n][k]) over tiles with dp4a; A = PrepFunctor's codes.
template <class Ex, class P, class Tile>
struct GemmFunctor {
  using Tl = GemmTiles<P>;
  static constexpr int TM = Tile::TM, TN = Tile::TN, KSW = Tl::KSW, KS = Tl::KS;
  static constexpr std::size_t scratch_bytes = std::size_t(TM + TN) * KSW * 4;
  Stage st;
  int tiles_m = 0;
  int tiles_n[3] = {0, 0, 0};

  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    team_side_copy<Ex>(m, st.copy_src, st.copy_dst);
    int b;
    index_t m0, n0;
    gemm_team_tile(st, tiles_m, tiles_n, m.league_rank(), TM, TN, b, m0, n0);
    const Ternary& w = st.bl[b];
    const index_t nblk = w.row_bytes / 32, R = st.R, N = w.rows;
    const std::int8_t* A = st.codes + index_t(b) * R * w.kp;
    std::uint32_t* As = reinterpret_cast<std::uint32_t*>(team_scratch(m, scratch_bytes));
    std::uint32_t* Bs = As + TM * KSW;
    const int rank = m.team_rank();
    const int tm = rank / Tile::TNt, tn = rank % Tile::TNt;
    std::int32_t acc[Tile::MR][Tile::NR];
    for (int i = 0; i < Tile::MR; ++i)
      for (int j = 0; j < Tile::NR; ++j) acc[i][j] = 0;

    for (index_t kb0 = 0; kb0 < nblk; kb0 += Tl::BPK) {
      Tl::template load<TM, TN>(m, As, Bs, A, R, m0, w, n0, kb0);
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
    const Mat y = st.y[b];
    for (int i = 0; i < Tile::MR; ++i) {
      const index_t mm = m0 + tm + Tile::TMt * i;
      if (mm >= R) continue;
      const float sa = st.scales[index_t(b) * R + mm];
      for (int j = 0; j < Tile::NR; ++j) {
        const index_t nn = n0 + tn + Tile::TNt * j;
        if (nn >= N) continue;
        const float v = ref::dequantize(acc[i][j], sa, w.w_scale);
        float* o = y.p + mm * y.stride + nn;
        *o = st.residual ? *o + v : v;
      }
    }
  }
};

/// One int8 tensor-core product D += A(16x32, row) * B(32x8, col) (sm_80 and later; the host
/// pass never runs it).
KOKKOS_INLINE_FUNCTION void mma_16832(std::int32_t (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                      std::uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  (void)d, (void)a, (void)b0, (void)b1;
#endif
}

/// Warp layout of the tensor-core GEMM: WM x WN warps, each MT x NT products of 16 x 8.
template <int WM_, int WN_, int MT_, int NT_>
struct MmaTile {
  static constexpr int WM = WM_, WN = WN_, MT = MT_, NT = NT_;
  static constexpr int TM = WM * 16 * MT, TN = WN * 8 * NT, threads = 32 * WM * WN;
};
template <int C>
struct MmaTileFor;
template <>
struct MmaTileFor<0> {
  using type = MmaTile<2, 4, 2, 4>;  // 64 x 128
};
template <>
struct MmaTileFor<1> {
  using type = MmaTile<2, 4, 1, 2>;  // 32 x 64
};
template <>
struct MmaTileFor<2> {
  using type = MmaTile<1, 8, 1, 2>;  // 16 x 128
};

/// \brief The GEMM on int8 tensor cores (CUDA, sm_80+): same tiles as GemmFunctor, exact int32 sums.
///
/// Fragments (PTX ISA, m16n8k32 .s8): lane = 4 g + t; a0 = A[g][4t..], a1 = A[g+8][4t..],
/// a2 = A[g][16+4t..], a3 = A[g+8][16+4t..]; b0 = B[4t..][g], b1 = B[16+4t..][g] (B[k][n] = the
/// code of weight row n at k); c0, c1 = C[g][2t, 2t+1], c2, c3 = C[g+8][2t, 2t+1].
template <class Ex, class P, class Tile>
struct GemmMmaFunctor {
  using Tl = GemmTiles<P>;
  static constexpr int TM = Tile::TM, TN = Tile::TN, KSW = Tl::KSW, KS = Tl::KS;
  static constexpr std::size_t scratch_bytes = std::size_t(TM + TN) * KSW * 4;
  Stage st;
  int tiles_m = 0;
  int tiles_n[3] = {0, 0, 0};

  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    team_side_copy<Ex>(m, st.copy_src, st.copy_dst);
    int b;
    index_t m0, n0;
    gemm_team_tile(st, tiles_m, tiles_n, m.league_rank(), TM, TN, b, m0, n0);
    const Ternary& w = st.bl[b];
    const index_t nblk = w.row_bytes / 32, R = st.R, N = w.rows;
    const std::int8_t* A = st.codes + index_t(b) * R * w.kp;
    std::uint32_t* As = reinterpret_cast<std::uint32_t*>(team_scratch(m, scratch_bytes));
    std::uint32_t* Bs = As + TM * KSW;
    const int warp = m.team_rank() / 32, lane = m.team_rank() % 32, g = lane / 4, t4 = lane % 4;
    const int wm = warp / Tile::WN, wn = warp % Tile::WN;
    std::int32_t acc[Tile::MT][Tile::NT][4];
    for (int i = 0; i < Tile::MT; ++i)
      for (int j = 0; j < Tile::NT; ++j)
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

    for (index_t kb0 = 0; kb0 < nblk; kb0 += Tl::BPK) {
      Tl::template load<TM, TN>(m, As, Bs, A, R, m0, w, n0, kb0);
      m.team_barrier();
      for (int kw = 0; kw < KS / 4; kw += 8) {  // 32 codes a product
        std::uint32_t a[Tile::MT][4], bf[Tile::NT][2];
        for (int i = 0; i < Tile::MT; ++i) {
          const std::uint32_t* r0 = As + (wm * 16 * Tile::MT + 16 * i + g) * KSW + kw + t4;
          a[i][0] = r0[0];
          a[i][1] = r0[8 * KSW];
          a[i][2] = r0[4];
          a[i][3] = r0[8 * KSW + 4];
        }
        for (int j = 0; j < Tile::NT; ++j) {
          const std::uint32_t* c0 = Bs + (wn * 8 * Tile::NT + 8 * j + g) * KSW + kw + t4;
          bf[j][0] = c0[0];
          bf[j][1] = c0[4];
        }
        for (int i = 0; i < Tile::MT; ++i)
          for (int j = 0; j < Tile::NT; ++j) mma_16832(acc[i][j], a[i], bf[j][0], bf[j][1]);
      }
      m.team_barrier();
    }
    const Mat y = st.y[b];
    for (int i = 0; i < Tile::MT; ++i)
      for (int e = 0; e < 4; ++e) {
        const index_t mm = m0 + wm * 16 * Tile::MT + 16 * i + g + (e >= 2 ? 8 : 0);
        if (mm >= R) continue;
        const float sa = st.scales[index_t(b) * R + mm];
        for (int j = 0; j < Tile::NT; ++j) {
          const index_t nn = n0 + wn * 8 * Tile::NT + 8 * j + 2 * t4 + (e & 1);
          if (nn >= N) continue;
          const float v = ref::dequantize(acc[i][j][e], sa, w.w_scale);
          float* o = y.p + mm * y.stride + nn;
          *o = st.residual ? *o + v : v;
        }
      }
  }
};

/// Kernel names as Kokkos Tools show them: mmfree::BitLinear<i2,int8>[gemv] / [gemm] / [mma]; a
/// GEMV names its fused prologue too: mmfree::BitLinear<i2,int8>[gemv+rmsnorm].
template <class P>
const char* ternary_label(int kind, Prologue pro = Prologue::none, Epilogue epi = Epilogue::none) {
  static const std::string base = "mmfree::BitLinear<" + std::string(P::name()) + ",int8>";
  static const std::string names[3] = {base + "[gemm]", base + "[gemv]", base + "[mma]"};
  static const std::string gemv[5] = {base + "[gemv]", base + "[gemv+rmsnorm]", base + "[gemv+gated_norm]",
                                      base + "[gemv+scan+gated_norm]", base + "[gemv+glu]"};
  // [gemv+..->glu], [gemv+..->mlgru]: with an epilogue (the next stage's GLU or the recurrence
  // step computed on the outputs)
  static const std::string gemv_epi[2][5] = {
      {base + "[gemv->glu]", base + "[gemv+rmsnorm->glu]", base + "[gemv+gated_norm->glu]",
       base + "[gemv+scan+gated_norm->glu]", base + "[gemv+glu->glu]"},
      {base + "[gemv->mlgru]", base + "[gemv+rmsnorm->mlgru]", base + "[gemv+gated_norm->mlgru]",
       base + "[gemv+scan+gated_norm->mlgru]", base + "[gemv+glu->mlgru]"}};
  if (kind != 1) return names[kind].c_str();
  return epi == Epilogue::none ? gemv[int(pro)].c_str() : gemv_epi[int(epi) - 1][int(pro)].c_str();
}
/// Chained GEMV labels: [gemv>rmsnorm] = the GEMV, then (last team) the next stage's input
/// quantised after its rmsnorm prologue; [quantize:rmsnorm] = a one-team quantisation launch.
template <class P>
const char* chain_label(bool prep, const Stage* next) {
  static const std::string base = "mmfree::BitLinear<" + std::string(P::name()) + ",int8>";
  static const char* pro[5] = {"none", "rmsnorm", "gated_norm", "scan+gated_norm", "glu"};
  static const std::string gemv[6] = {base + "[gemv]", base + "[gemv>" + pro[0] + "]", base + "[gemv>" + pro[1] + "]",
                                      base + "[gemv>" + pro[2] + "]", base + "[gemv>" + pro[3] + "]",
                                      base + "[gemv>" + pro[4] + "]"};
  static const std::string quant[5] = {base + "[quantize:" + pro[0] + "]", base + "[quantize:" + pro[1] + "]",
                                       base + "[quantize:" + pro[2] + "]", base + "[quantize:" + pro[3] + "]",
                                       base + "[quantize:" + pro[4] + "]"};
  if (prep) return quant[int(next->pro)].c_str();
  return next == nullptr ? gemv[0].c_str() : gemv[1 + int(next->pro)].c_str();
}

// (No Kokkos::LaunchBounds on these policies: Kokkos 4.6 cannot put a kernel with launch bounds
// into a CUDA graph, an ambiguous overload in its global-memory launcher.)

/// Calls f(std::integral_constant<int, NR>) with the register-row size NR of the GEMV prologue
/// for rows of K values on teams of `team` threads (0: through scratch).
template <class Ex, class F>
void with_gemv_nr(index_t K, index_t team, F&& f) {
  if constexpr (SpaceTraits<Ex>::gpu) {
    if (K <= 2 * team) return f(std::integral_constant<int, 2>{});
    if (K <= 4 * team) return f(std::integral_constant<int, 4>{});
    if (K <= 8 * team) return f(std::integral_constant<int, 8>{});
    if (K <= 16 * team) return f(std::integral_constant<int, 16>{});
    // longer rows go through scratch (28 register floats a thread spilled and halved the team)
  } else {
    if (K <= 28 * team) return f(std::integral_constant<int, 28>{});  // tiny rows (tests)
  }
  return f(std::integral_constant<int, 0>{});
}

/// \brief Launches the fused GEMV of a stage. Team size: `st.team` threads, or on GPUs 1024,
/// halved while the kernel's registers or scratch do not allow it; rows per SIMD group: about one
/// wave of groups over the whole device unless `st.rows_per_group` says otherwise.
template <class Ex, class P>
void launch_gemv(Launcher<Ex>& L, const Stage& st0) {
  constexpr int G = SpaceTraits<Ex>::group;
  constexpr bool gpu = SpaceTraits<Ex>::gpu;
  // parts of the launch (see GemvFunctor) and their work units: rows, or row pairs
  const bool mlgru = st0.epi == Epilogue::mlgru;
  const int parts = mlgru ? 2 : st0.nbl;
  auto units = [&st0, mlgru](int p) {
    if (st0.epi == Epilogue::glu) return st0.bl[p].rows / 2;
    return mlgru ? st0.bl[p == 0 ? st0.e_i : 3 - st0.e_i - st0.e_f].rows : st0.bl[p].rows;
  };
  index_t total = 0;
  for (int b = 0; b < st0.nbl; ++b)
    check(st0.bl[b].rows * st0.bl[b].row_bytes < (index_t(1) << 31), "backend::Kokkos: a weight matrix over 2 GiB");
  for (int p = 0; p < parts; ++p) total += units(p);
  check(st0.epi == Epilogue::none ||
            (st0.epi == Epilogue::glu && st0.nbl == 1 && !st0.residual && st0.bl[0].rows == 2 * st0.e_out.cols) ||
            (mlgru && st0.nbl == 3 && !st0.residual && st0.e_i != st0.e_f && st0.e_i >= 0 && st0.e_i < 3 &&
             st0.e_f >= 0 && st0.e_f < 3 && st0.bl[st0.e_i].rows == st0.e_state.cols &&
             st0.bl[st0.e_f].rows == st0.e_state.cols),
        "backend::Kokkos: a GEMV epilogue on a stage that cannot have one");
  if (total == 0) return;
  int team = !gpu ? 1 : st0.team > 0 ? st0.team : max_groups * G;  // host spaces: teams of one thread
  int most = team;  // largest team the kernel can run (GPUs: queried below)
  for (bool launched = false; !launched;) {
    // threads that hold the prologue's row: all by default (H100: fewer threads, each with a
    // longer row, were slower), the rest of the team waits at the barriers
    const int pro = st0.pro_threads > 0 ? std::min(team, st0.pro_threads) : team;
    with_gemv_nr<Ex>(st0.K, pro, [&](auto nr) {
      using F = GemvFunctor<Ex, P, decltype(nr)::value>;
      Stage st = st0;
      const auto scratch = ::Kokkos::PerTeam(F::scratch_bytes(st));
      if constexpr (gpu) {
        // the kernel as launched eagerly and as a graph node (separate instantiations)
        const auto probe = light(::Kokkos::TeamPolicy<Ex>(L.ex, 1, ::Kokkos::AUTO).set_scratch_size(0, scratch));
        most = std::min(probe.team_size_max(F{st}, ::Kokkos::ParallelForTag()),
                        in_graph(probe).team_size_max(F{st}, ::Kokkos::ParallelForTag()));
        if (team > most && team > G) {  // too many registers or too much scratch: smaller teams
          team = std::max(G, std::min(team / 2, most / G * G));
          return;
        }
      }
      const index_t groups = team / G;
      // one wave of teams: as many as the device holds at once (a team of `most` threads fills a
      // multiprocessor's registers; 2048 threads a multiprocessor), one SIMD group a thread on CPUs
      const index_t conc = index_t(L.ex.concurrency());
      index_t slots = gpu ? std::max<index_t>(1, conc / 2048) * std::max(1, most / team) * groups : conc;
      if (st.wave_percent > 0 && st.wave_percent < 100) slots = std::max<index_t>(1, slots * st.wave_percent / 100);
      index_t rpg = st.rows_per_group > 0 ? st.rows_per_group : std::max<index_t>(1, (total + slots - 1) / slots);
      // Lanes a row: the whole group, or fewer (several rows a pass) where that leaves fewer lanes
      // idle in a row's last round (2.7b: 40 chunks a row, 8 lanes x 5 rounds instead of 32 x 2)
      // and the group has that many rows anyway (fewer teams would lengthen nothing but cost the
      // multiprocessors they leave idle).
      int lpr = G;
      if constexpr (gpu) {
        const int nch = int(st.bl[0].row_bytes / 16);
        // (two-row units: the GLU's, the MLGRU pair's, whose teams are the slower part)
        const index_t group_rows = rpg * (st.epi == Epilogue::none ? 1 : 2);
        auto slots_of = [nch](int l) { return l * ((nch + l - 1) / l); };
        for (int l = G / 2; l >= 4 && G / l <= group_rows; l /= 2)
          if (slots_of(l) < slots_of(lpr)) lpr = l;
      }
      st.lanes_per_row = lpr;
      st.rows_per_group = int(rpg);
      st.team = team;
      st.pro_threads = pro;
      index_t league = 0;
      for (int p = 0; p < parts; ++p) {
        st.teams[p] = int((units(p) + groups * rpg - 1) / (groups * rpg));
        league += st.teams[p];
      }
      const auto pol = ::Kokkos::TeamPolicy<Ex>(L.ex, int(league), team).set_scratch_size(0, scratch);
      L(ternary_label<P>(1, st.pro, st.epi), pol, F{st}, /*waits=*/true);
      launched = true;
    });
  }
}

/// \brief Largest team (a multiple of the SIMD group, at most `team`) that functor F can run
/// with `scratch` bytes of level-0 scratch, eagerly and as a graph node (GPUs; `team` elsewhere).
template <class Ex, class F>
int fit_team(Launcher<Ex>& L, const F& f, std::size_t scratch, int team) {
  if constexpr (SpaceTraits<Ex>::gpu) {
    constexpr int G = SpaceTraits<Ex>::group;
    const auto probe =
        light(::Kokkos::TeamPolicy<Ex>(L.ex, 1, ::Kokkos::AUTO).set_scratch_size(0, ::Kokkos::PerTeam(scratch)));
    const int most = std::min(probe.team_size_max(f, ::Kokkos::ParallelForTag()),
                              in_graph(probe).team_size_max(f, ::Kokkos::ParallelForTag()));
    return std::max(G, std::min(team, most / G * G));
  } else {
    (void)L, (void)f, (void)scratch;
    return team;
  }
}

/// \brief Launches a chained GEMV (PlanOptions::gemv_chain); `next`: the chained stage after it,
/// whose input its last team quantises (nullptr: none). Team: `st.team` threads, or on GPUs the
/// largest up to 1024 the kernel's registers allow (the last team's quantisation is a chain of
/// team reductions: wide teams shorten it). Rows per SIMD group: spread over all multiprocessors,
/// at most GemvChainFunctor::B items a lane when that still fits one wave.
template <class Ex, class P>
void launch_gemv_chain(Launcher<Ex>& L, const Stage& st, const Stage* next) {
  constexpr int G = SpaceTraits<Ex>::group;
  constexpr bool gpu = SpaceTraits<Ex>::gpu;
  GemvArgs a;
  index_t total = 0;
  for (int b = 0; b < st.nbl; ++b) {
    check(st.bl[b].rows * st.bl[b].row_bytes < (index_t(1) << 31), "backend::Kokkos: a weight matrix over 2 GiB");
    a.w[b] = st.bl[b].codes, a.y[b] = st.y[b].p, a.w_scale[b] = st.bl[b].w_scale, a.rows[b] = int(st.bl[b].rows);
    total += st.bl[b].rows;
  }
  if (total == 0) return;
  a.q = st.codes, a.scales = st.scales, a.qsums = st.qsums, a.counter = st.counter;
  a.code_stride = int(st.code_stride), a.row_bytes = int(st.bl[0].row_bytes), a.nbl = st.nbl;
  a.residual = st.residual;
  const int nchunks = a.row_bytes / 16, lpr = gemv_lanes_per_row<G>(nchunks);
  a.lpr_shift = ilog2(lpr);
  const int rpw = G / lpr, rounds = (nchunks + lpr - 1) / lpr;
  a.rounds = rounds;
  const PrepArgs nx = next != nullptr ? prep_args(*next) : PrepArgs{};
  if (next != nullptr)
    for (int b = 0; b < next->nbl; ++b)
      a.pf[b] = next->bl[b].codes, a.pf_lines[b] = int((next->bl[b].rows * next->bl[b].row_bytes + 127) / 128);
  int team = st.team > 0 ? st.team : gpu ? max_groups * G : 1;
  for (bool launched = false; !launched;) {
    with_gemv_nr<Ex>(nx.K, team, [&](auto nr) {
      using F = GemvChainFunctor<Ex, P, decltype(nr)::value>;
      F f{a, nx};
      const int fit = fit_team<Ex>(L, f, F::scratch_bytes, team);
      if (fit < team) {  // too many registers: a smaller team (and maybe another NR)
        team = fit;
        return;
      }
      const index_t groups = team / G;
      index_t rpg = st.rows_per_group;
      if (rpg <= 0) {
        // every multiprocessor's worth of groups (one team a multiprocessor), whole steps of rpw rows
        const index_t slots = gpu ? std::max<index_t>(1, index_t(L.ex.concurrency()) / 2048) * groups
                                  : index_t(L.ex.concurrency());
        rpg = std::max<index_t>(1, (total + slots - 1) / slots);
        rpg = (rpg + rpw - 1) / rpw * rpw;
        // at most B items a lane when that still takes one team a multiprocessor at most
        const index_t cap = std::max<index_t>(1, F::B / rounds) * rpw;
        const index_t sms = std::max<index_t>(1, index_t(L.ex.concurrency()) / 2048);
        if (gpu && rpg > cap && (total + groups * cap - 1) / (groups * cap) <= sms) rpg = cap;
      }
      f.a.rows_per_group = int(rpg);
      index_t league = 0;
      for (int b = 0; b < st.nbl; ++b) {
        f.a.teams[b] = int((st.bl[b].rows + groups * rpg - 1) / (groups * rpg));
        league += f.a.teams[b];
      }
      const auto pol = ::Kokkos::TeamPolicy<Ex>(L.ex, int(league), team)
                           .set_scratch_size(0, ::Kokkos::PerTeam(F::scratch_bytes));
      L(chain_label<P>(false, next), pol, f);
      launched = true;
    });
  }
}

/// Launches the one-team quantisation of a chained stage's input (see chain_prep).
template <class Ex, class P>
void launch_gemv_prep(Launcher<Ex>& L, const Stage& st) {
  constexpr bool gpu = SpaceTraits<Ex>::gpu;
  int team = st.team > 0 ? st.team : gpu ? max_groups * SpaceTraits<Ex>::group : 1;
  const PrepArgs pa = prep_args(st);
  for (bool launched = false; !launched;) {
    with_gemv_nr<Ex>(st.K, team, [&](auto nr) {
      using F = GemvPrepFunctor<Ex, P, decltype(nr)::value>;
      const F f{pa};
      const int fit = fit_team<Ex>(L, f, F::scratch_bytes, team);
      if (fit < team) {
        team = fit;
        return;
      }
      const auto pol =
          ::Kokkos::TeamPolicy<Ex>(L.ex, 1, team).set_scratch_size(0, ::Kokkos::PerTeam(F::scratch_bytes));
      L(chain_label<P>(true, &st), pol, f);
      launched = true;
    });
  }
}

template <class Ex, class F, int Threads>
void launch_tiled(Launcher<Ex>& L, const char* label, F f) {
  f.tiles_m = int((f.st.R + F::TM - 1) / F::TM);
  index_t league = 0;
  for (int b = 0; b < f.st.nbl; ++b) {
    f.tiles_n[b] = int((f.st.bl[b].rows + F::TN - 1) / F::TN);
    league += index_t(f.tiles_m) * f.tiles_n[b];
  }
  if (league == 0) return;
  const auto pol = ::Kokkos::TeamPolicy<Ex>(L.ex, int(league), Threads)
                       .set_scratch_size(0, ::Kokkos::PerTeam(F::scratch_bytes));
  L(label, pol, f);
}

/// GEMM with tile size class C (0 large, 1 medium, 2 small): tensor cores when the stage asks
/// for them and the space is CUDA, dp4a-style dot products otherwise.
template <class Ex, class P, int C>
void launch_gemm_class(Launcher<Ex>& L, const Stage& st) {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same_v<Ex, ::Kokkos::Cuda>) {
    if (st.mma) {
      using Tile = typename MmaTileFor<C>::type;
      using F = GemmMmaFunctor<Ex, P, Tile>;
      launch_tiled<Ex, F, Tile::threads>(L, ternary_label<P>(2), F{st});
      return;
    }
  }
#endif
  using Tile = typename GemmTileFor<Ex, C>::type;
  using F = GemmFunctor<Ex, P, Tile>;
  launch_tiled<Ex, F, Tile::threads>(L, ternary_label<P>(0), F{st});
}

template <class Ex, class P>
void launch_gemm(Launcher<Ex>& L, const Stage& st) {
  if (st.tile == 0)
    launch_gemm_class<Ex, P, 0>(L, st);
  else if (st.tile == 1)
    launch_gemm_class<Ex, P, 1>(L, st);
  else
    launch_gemm_class<Ex, P, 2>(L, st);
}

/// The launchers of packing P on space Ex (one static table per instantiation).
template <class Ex, class P>
const TernaryOps<Ex>* ternary_ops() {
  (void)sizeof(Decoder<P>);  // unsupported packings fail here, naming the supported ones
  static const TernaryOps<Ex> ops{ternary_label<P>(1),       ternary_label<P>(0),         &launch_gemv<Ex, P>,
                                  &launch_gemm<Ex, P>,       &launch_gemv_chain<Ex, P>,   &launch_gemv_prep<Ex, P>};
  return &ops;
}

}  // namespace kk
MMFREE_NAMESPACE_END
