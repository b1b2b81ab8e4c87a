// SPDX-License-Identifier: MIT
// Kokkos functors for the non-ternary steps, and the team-collective row helpers the fused
// BitLinear kernels share. Every value is computed with the ref:: / math:: functions (or the
// same operations in the same order), so results equal backend::Serial's to the last bit.
// Functors hold raw pointers and sizes only (no Views, no [[no_unique_address]] members).
#pragma once

#include <cstdint>

#include "../../core/math.hpp"
#include "../../core/numeric.hpp"
#include "../../core/quantize.hpp"
#include "../../model/weights.hpp"
#include "compat.hpp"
#include "program.hpp"

MMFREE_NAMESPACE_BEGIN
namespace kk {

template <class Ex>
using TeamPol = ::Kokkos::TeamPolicy<Ex>;
template <class Ex>
using Member = typename TeamPol<Ex>::member_type;

// ---------------------------------------------------------------------------------------------
// Team-collective helpers (every thread of the team calls them; results are team-uniform).

/// \brief Team reductions of space Ex (see kk::team_reduce), in 2 x (max_groups + 2) slots of
/// team scratch. Deterministic: per-thread partials over k = rank, rank + T, ..., then fixed
/// butterflies. Any team size up to 32 SIMD groups; `groups` (default: all) of them contribute.
template <class Ex>
struct TeamReducer {
  static constexpr int G = SpaceTraits<Ex>::group;
  /// doubles a turn: max_groups partials + the applied result, or 3 x max_groups 4-byte values
  static constexpr int turn_doubles = 3 * max_groups / 2 + 2;
  static constexpr std::size_t scratch_bytes = G == 1 ? 16 : 2 * turn_doubles * sizeof(double);
  double* slots = nullptr;
  int turn = 0;
  int groups = max_groups;  ///< contributing SIMD groups (the first ones)

  KOKKOS_INLINE_FUNCTION explicit TeamReducer(unsigned char* scratch) : slots(reinterpret_cast<double*>(scratch)) {}
  KOKKOS_INLINE_FUNCTION double* next() {
    turn ^= 1;
    return slots + turn * turn_doubles;
  }
  /// Three maxima (of values >= 0) / three int sums at once, all groups contributing.
  KOKKOS_INLINE_FUNCTION void max3(const Member<Ex>& m, float (&v)[3]) {
    team_reduce_n<G, 3>(m, v, reinterpret_cast<float*>(next()), MaxOp{}, 0.0f);
  }
  KOKKOS_INLINE_FUNCTION void sum3(const Member<Ex>& m, std::int32_t (&v)[3]) {
    team_reduce_n<G, 3>(m, v, reinterpret_cast<std::int32_t*>(next()), SumOp{}, std::int32_t(0));
  }
  KOKKOS_INLINE_FUNCTION double sum(const Member<Ex>& m, double v) {
    return team_reduce<G>(m, v, next(), SumOp{}, 0.0, groups);
  }
  KOKKOS_INLINE_FUNCTION std::int32_t sum(const Member<Ex>& m, std::int32_t v) {
    return team_reduce<G>(m, v, reinterpret_cast<std::int32_t*>(next()), SumOp{}, std::int32_t(0), groups);
  }
  /// \brief 1 / sqrt(mean of squares + eps) of a row of n values from per-thread partial sums of
  /// squares (in double): ref::rms_inv_from_sum of the team's total, computed once.
  KOKKOS_INLINE_FUNCTION float rms_inv(const Member<Ex>& m, double partial, index_t n, float eps) {
    return team_reduce_apply<G>(m, partial, next(), SumOp{}, 0.0, groups,
                                [n, eps](double total) { return ref::rms_inv_from_sum(total, n, eps); });
  }
  /// rms_inv with the second level of the reduction and the scalar step done by every SIMD group
  /// (one barrier: for a team alone on its multiprocessor, where latency is all that counts)
  KOKKOS_INLINE_FUNCTION float rms_inv_all(const Member<Ex>& m, double partial, index_t n, float eps) {
    return ref::rms_inv_from_sum(team_reduce<G>(m, partial, next(), SumOp{}, 0.0, max_groups), n, eps);
  }
  /// max of values >= 0 (absolute values)
  KOKKOS_INLINE_FUNCTION float max(const Member<Ex>& m, float v) {
    return team_reduce<G>(m, v, reinterpret_cast<float*>(next()), MaxOp{}, 0.0f, groups);
  }
};

/// ref::rms_inv of n floats done by a team: squares summed in double (reduced as a tree).
template <class Ex>
KOKKOS_INLINE_FUNCTION float team_rms_inv(const Member<Ex>& m, TeamReducer<Ex>& red, const float* x, index_t n,
                                          float eps) {
  double s = 0.0;
  for (index_t k = m.team_rank(); k < n; k += m.team_size()) s += double(x[k]) * double(x[k]);
  return red.rms_inv(m, s, n, eps);
}

/// \brief ref::norm_quantize_row done by a team: RMSNorm of x (weight w, eps 1e-6), per-row
/// absmax, int8 codes (zero past n up to kp) stored at q[pos(k)]. Returns s_a; `qsum` gets sum(q).
template <class Ex, class Pos>
KOKKOS_INLINE_FUNCTION float team_norm_quantize(const Member<Ex>& m, TeamReducer<Ex>& red, const float* x,
                                                const float* w, index_t n, index_t kp, std::int8_t* q,
                                                std::int32_t* qsum, Pos pos) {
  const float r = team_rms_inv<Ex>(m, red, x, n, bitlinear_norm_eps);
  float amax = 0.0f;
  for (index_t k = m.team_rank(); k < n; k += m.team_size()) {
    const float y = x[k] * r * w[k];
    const float a = y < 0.0f ? -y : y;
    amax = a > amax ? a : amax;
  }
  amax = red.max(m, amax);
  const float s = ref::act_scale_from_absmax(amax);
  std::int32_t total = 0;
  for (index_t k = m.team_rank(); k < kp; k += m.team_size()) {
    const std::int8_t v = k < n ? ref::quantize_value(x[k] * r * w[k], s) : std::int8_t(0);
    q[pos(k)] = v;
    total += v;
  }
  if (qsum) *qsum = red.sum(m, total);  // (its barrier also publishes q)
  else m.team_barrier();
  return s;
}

/// The forget gate of one MLGRU step (ref::mlgru_channel's first two lines).
KOKKOS_INLINE_FUNCTION float mlgru_gate(float f, const float* lb, index_t d) {
  float fv = math::sigmoid(f);
  if (lb != nullptr) fv = ::fmaf(1.0f - lb[d], fv, lb[d]);
  return fv;
}
/// One step of ref::mlgru_channel for channel d: returns the new state.
KOKKOS_INLINE_FUNCTION float mlgru_step(float i, float f, float s, const float* lb, index_t d) {
  const float fv = mlgru_gate(f, lb, d);
  const float c = math::silu(i) * (1.0f - fv);
  return ::fmaf(fv, s, c);
}

/// Team-wide L1 prefetch of n floats (each 128-byte line once), so that the dependent phases of
/// a prologue pay one memory latency instead of one per phase.
template <class Ex>
KOKKOS_INLINE_FUNCTION void team_prefetch(const Member<Ex>& m, const float* p, index_t n) {
  if constexpr (SpaceTraits<Ex>::gpu) {
    if (p == nullptr) return;
    for (index_t l = m.team_rank(); l * 32 < n; l += m.team_size()) prefetch_line(p + l * 32);
  }
}

/// Prefetches the weights team_stage_row and the quantisation (norm weight `wb`) will read:
/// constants of the model, which a kernel may read before grid_dependency_wait().
template <class Ex>
KOKKOS_INLINE_FUNCTION void team_prefetch_stage_weights(const Member<Ex>& m, const Stage& st, const float* wb) {
  if constexpr (SpaceTraits<Ex>::gpu) {
    const index_t K = st.K;
    team_prefetch<Ex>(m, wb, K);
    if (st.pro == Prologue::rmsnorm || st.pro == Prologue::gated || st.pro == Prologue::scan_gated)
      team_prefetch<Ex>(m, st.w1, K);
    if (st.pro == Prologue::scan_gated) team_prefetch<Ex>(m, st.lb, K);
  }
}
/// Prefetches the activations team_stage_row of row r will read (what earlier launches wrote).
template <class Ex>
KOKKOS_INLINE_FUNCTION void team_prefetch_stage_inputs(const Member<Ex>& m, const Stage& st, index_t r) {
  if constexpr (SpaceTraits<Ex>::gpu) {
    const index_t K = st.K;
    team_prefetch<Ex>(m, st.x.p + r * st.x.stride, st.pro == Prologue::glu ? 2 * K : K);
    if (st.pro == Prologue::gated || st.pro == Prologue::scan_gated) team_prefetch<Ex>(m, st.si.p + r * st.si.stride, K);
    if (st.pro == Prologue::scan_gated) {
      team_prefetch<Ex>(m, st.sf.p + r * st.sf.stride, K);
      team_prefetch<Ex>(m, st.state.p + r * st.state.stride, K);
    }
  }
}
/// Both of the above.
template <class Ex>
KOKKOS_INLINE_FUNCTION void team_prefetch_stage(const Member<Ex>& m, const Stage& st, index_t r, const float* wb) {
  team_prefetch_stage_inputs<Ex>(m, st, r);
  team_prefetch_stage_weights<Ex>(m, st, wb);
}

/// \brief Writes row r of a stage's BitLinear input (after its prologue) to xin[0, K).
///
/// Team-collective. With `state_out` (scan_gated) the new state of the row is also written there.
/// Returns a pointer to the row: xin, or the input itself for Prologue::none (nothing copied).
///
/// `coherent`: the inputs may have been written by other teams of this kernel (the last-team
/// hand-off of a GEMV chain): they are read with load_coherent, and Prologue::none copies the
/// row to xin too.
template <class Ex>
KOKKOS_INLINE_FUNCTION const float* team_stage_row(const Member<Ex>& m, TeamReducer<Ex>& red, const Stage& st,
                                                   index_t r, float* xin, float* state_out, bool coherent = false) {
  const index_t K = st.K;
  const int t0 = m.team_rank(), T = m.team_size();
  auto ld = [coherent](const float* p) { return coherent ? load_coherent(p) : *p; };
  // ref::rms_inv of a row of K values (squares summed in double, reduced over the team)
  auto rms_inv = [&](const float* x) {
    double s = 0.0;
    for (index_t k = t0; k < K; k += T) {
      const float v = ld(x + k);
      s += double(v) * double(v);
    }
    return red.rms_inv(m, s, K, st.eps1);
  };
  switch (st.pro) {
    case Prologue::none: {
      const float* x = st.x.p + r * st.x.stride;
      if (!coherent) return x;
      for (index_t k = t0; k < K; k += T) xin[k] = ld(x + k);
      break;
    }
    case Prologue::rmsnorm: {
      const float* x = st.x.p + r * st.x.stride;
      const float rr = rms_inv(x);
      const float* w = st.w1;
      for (index_t k = t0; k < K; k += T) xin[k] = ld(x + k) * rr * w[k];
      break;
    }
    case Prologue::gated:
    case Prologue::scan_gated: {
      const float* g = st.x.p + r * st.x.stride;
      const float rg = rms_inv(g);
      const float* w = st.w1;
      if (st.pro == Prologue::gated) {
        const float* s = st.si.p + r * st.si.stride;
        for (index_t k = t0; k < K; k += T) xin[k] = (ld(g + k) * rg * w[k]) * math::silu(ld(s + k));
      } else {
        const float* iv = st.si.p + r * st.si.stride;
        const float* fv = st.sf.p + r * st.sf.stride;
        const float* sv = st.state.p + r * st.state.stride;
        for (index_t k = t0; k < K; k += T) {
          const float s = mlgru_step(ld(iv + k), ld(fv + k), ld(sv + k), st.lb, k);
          if (state_out) state_out[k] = s;
          xin[k] = (ld(g + k) * rg * w[k]) * math::silu(s);
        }
      }
      break;
    }
    case Prologue::glu: {
      const float* u = st.x.p + r * st.x.stride;
      for (index_t k = t0; k < K; k += T) xin[k] = math::silu(ld(u + k)) * ld(u + K + k);
      break;
    }
  }
  m.team_barrier();
  return xin;
}

/// Team 0 of a launch copies the state staged by the previous launch (see Stage::copy_src).
template <class Ex>
KOKKOS_INLINE_FUNCTION void team_side_copy(const Member<Ex>& m, const Mat& src, const Mat& dst) {
  if (src.p == nullptr || m.league_rank() != 0) return;
  for (index_t r = 0; r < dst.rows; ++r)
    for (index_t k = m.team_rank(); k < dst.cols; k += m.team_size()) dst.p[r * dst.stride + k] = src.p[r * src.stride + k];
}

// ---------------------------------------------------------------------------------------------
// Unfused hooks (eager calls, and ops the planner could not fuse). Element-wise ones take a
// flat index e < rows * cols < 2^31 (checked by the planner), split with 32-bit division.

/// Row and column of flat index e over `cols` columns.
KOKKOS_INLINE_FUNCTION void split_index(index_t e, index_t cols, index_t& r, index_t& k) {
  const std::uint32_t ue = std::uint32_t(e), uc = std::uint32_t(cols);
  r = index_t(ue / uc);
  k = index_t(ue - std::uint32_t(r) * uc);
}

/// out[r] = table[ids[r]] as f32 (F32, F16 or BF16 tables).
struct EmbedFunctor {
  Mat out;
  const void* table;
  DType dtype;
  const std::int32_t* ids;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    index_t r, k;
    split_index(e, out.cols, r, k);
    const index_t src = index_t(ids[r]) * out.cols + k;
    float v;
    if (dtype == DType::F32) {
      v = static_cast<const float*>(table)[src];
    } else {
      const std::uint16_t h = static_cast<const std::uint16_t*>(table)[src];
      v = dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    out.p[r * out.stride + k] = v;
  }
};

/// y[r] = RMSNorm(x[r]) * w, one team a row.
template <class Ex>
struct RMSNormFunctor {
  Mat x, y;
  const float* w;
  float eps;
  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    TeamReducer<Ex> red(team_scratch(m, TeamReducer<Ex>::scratch_bytes));
    const index_t r = m.league_rank();
    const float* xr = x.p + r * x.stride;
    float* yr = y.p + r * y.stride;
    const float rr = team_rms_inv<Ex>(m, red, xr, x.cols, eps);
    for (index_t k = m.team_rank(); k < x.cols; k += m.team_size()) yr[k] = xr[k] * rr * w[k];
  }
};

/// out[r] = RMSNorm(g[r]) * w * silu(s[r]), one team a row.
template <class Ex>
struct GatedNormFunctor {
  Mat g, s, out;
  const float* w;
  float eps;
  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    TeamReducer<Ex> red(team_scratch(m, TeamReducer<Ex>::scratch_bytes));
    const index_t r = m.league_rank();
    const float* gr = g.p + r * g.stride;
    const float* sr = s.p + r * s.stride;
    float* o = out.p + r * out.stride;
    const float rg = team_rms_inv<Ex>(m, red, gr, g.cols, eps);
    for (index_t k = m.team_rank(); k < g.cols; k += m.team_size()) o[k] = (gr[k] * rg * w[k]) * math::silu(sr[k]);
  }
};

/// h += d, element-wise.
struct AddFunctor {
  Mat h, d;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    index_t r, k;
    split_index(e, h.cols, r, k);
    float& a = h.p[r * h.stride + k];
    a = a + d.p[r * d.stride + k];
  }
};

/// \brief The MLGRU recurrence, step 1 (fully parallel over rows x channels): the forget gate f'
/// of every step into `gates` (rows x H, dense) and the candidate c = silu(i) (1 - f') over i.
/// Neither depends on the state; both are exactly the values ref::mlgru_channel computes.
struct ScanGatesFunctor {
  Mat i, f;
  const float* lb;
  float* gates;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    index_t r, d;
    split_index(e, i.cols, r, d);
    float& iv = i.p[r * i.stride + d];
    const float g = mlgru_gate(f.p[r * f.stride + d], lb, d);
    iv = math::silu(iv) * (1.0f - g);
    gates[e] = g;
  }
};

/// \brief The MLGRU recurrence, step 2: one thread per (sequence, channel), sequential over time,
/// s = fmaf(f', s, c) as the oracle (no reassociation); i <- the states. Loads run 8 steps ahead.
/// `f` here is the dense gates buffer of step 1.
struct ScanChainFunctor {
  Mat i, f, state;
  index_t T;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    index_t b, d;
    split_index(e, i.cols, b, d);
    constexpr int ahead = 8;
    float* ip = i.p + b * T * i.stride + d;
    const float* fp = f.p + b * T * f.stride + d;
    float s = state.p[b * state.stride + d];
    for (index_t t0 = 0; t0 < T; t0 += ahead) {
      float fv[ahead] = {}, c[ahead] = {};  // (zeros past T are never used)
      const int n = T - t0 < ahead ? int(T - t0) : ahead;
      for (int u = 0; u < ahead; ++u)
        if (u < n) fv[u] = fp[(t0 + u) * f.stride], c[u] = ip[(t0 + u) * i.stride];
      for (int u = 0; u < ahead; ++u)
        if (u < n) {
          s = ::fmaf(fv[u], s, c[u]);
          ip[(t0 + u) * i.stride] = s;
        }
    }
    state.p[b * state.stride + d] = s;
  }
};

/// v = silu(u[:I]) * u[I:], element-wise.
struct GluFunctor {
  Mat u, v;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    index_t r, k;
    split_index(e, v.cols, r, k);
    const float* ur = u.p + r * u.stride;
    v.p[r * v.stride + k] = math::silu(ur[k]) * ur[v.cols + k];
  }
};

/// dst = src (rows of f32), element-wise: the state copy when no fused launch follows.
struct CopyFunctor {
  Mat src, dst;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    index_t r, k;
    split_index(e, dst.cols, r, k);
    dst.p[r * dst.stride + k] = src.p[r * src.stride + k];
  }
};

/// \brief Split path, step 1: one team a row computes the stage input (prologue) and quantises it
/// for each BitLinear of the stage: codes[b][r][kp], scales[b][r].
template <class Ex>
struct PrepFunctor {
  Stage st;
  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    TeamReducer<Ex> red(team_scratch(m, TeamReducer<Ex>::scratch_bytes));
    const index_t r = m.league_rank();
    if (st.prefetch) team_prefetch_stage<Ex>(m, st, r, st.bl[0].norm);
    team_side_copy<Ex>(m, st.copy_src, st.copy_dst);
    // scan_gated on the split path: each team owns its sequence's state row and each thread
    // reads then writes the same channels, so the new state goes straight to the state.
    float* state_out = st.pro == Prologue::scan_gated ? st.state.p + r * st.state.stride : nullptr;
    const float* row = team_stage_row<Ex>(m, red, st, r, st.xbuf + r * st.K, state_out);
    for (int b = 0; b < st.nbl; ++b) {
      const Ternary& t = st.bl[b];
      std::int8_t* q = st.codes + (index_t(b) * st.R + r) * t.kp;
      const float sa = team_norm_quantize<Ex>(m, red, row, t.norm, st.K, t.kp, q, nullptr, [](index_t k) { return k; });
      if (m.team_rank() == 0) st.scales[b * st.R + r] = sa;
    }
  }
};

}  // namespace kk
MMFREE_NAMESPACE_END
