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
#include "../reference/row_kernels.hpp"
#include "compat.hpp"
#include "program.hpp"

MMFREE_NAMESPACE_BEGIN
namespace kk {

// ---------------------------------------------------------------------------------------------
// Team-collective helpers (every thread of the team calls them; results are team-uniform).

/// Sum of squares of n floats in double (ref::rms_inv's accumulation, reduced as a tree).
template <class Member>
KOKKOS_INLINE_FUNCTION double team_sum_sq(const Member& m, const float* x, index_t n) {
  double s = 0.0;
  ::Kokkos::parallel_reduce(
      ::Kokkos::TeamThreadRange(m, n), [&](index_t k, double& acc) { acc += double(x[k]) * double(x[k]); }, s);
  return s;
}

/// \brief ref::norm_quantize_row done by a team: RMSNorm of x (weight w, eps 1e-6), per-row
/// absmax, int8 codes into q[0, kp) (zero past n). Returns the scale s_a; `qsum` gets sum(q).
template <class Member>
KOKKOS_INLINE_FUNCTION float team_norm_quantize(const Member& m, const float* x, const float* w, index_t n,
                                                index_t kp, std::int8_t* q, std::int32_t* qsum) {
  const float r = ref::rms_inv_from_sum(team_sum_sq(m, x, n), n, bitlinear_norm_eps);
  float amax = 0.0f;
  ::Kokkos::parallel_reduce(
      ::Kokkos::TeamThreadRange(m, n),
      [&](index_t k, float& acc) {
        const float y = x[k] * r * w[k];
        const float a = y < 0.0f ? -y : y;
        acc = a > acc ? a : acc;
      },
      ::Kokkos::Max<float>(amax));
  const float s = ref::act_scale_from_absmax(amax);
  std::int32_t total = 0;
  ::Kokkos::parallel_reduce(
      ::Kokkos::TeamThreadRange(m, kp),
      [&](index_t k, std::int32_t& acc) {
        const std::int8_t v = k < n ? ref::quantize_value(x[k] * r * w[k], s) : std::int8_t(0);
        q[k] = v;
        acc += v;
      },
      total);
  if (qsum) *qsum = total;
  return s;
}

/// One step of ref::mlgru_channel for channel d (T = 1): returns the new state.
KOKKOS_INLINE_FUNCTION float mlgru_step(float i, float f, float s, const float* lb, index_t d) {
  float fv = math::sigmoid(f);
  if (lb != nullptr) fv = ::fmaf(1.0f - lb[d], fv, lb[d]);
  const float c = math::silu(i) * (1.0f - fv);
  return ::fmaf(fv, s, c);
}

/// \brief Writes row r of a stage's BitLinear input (after its prologue) to xin[0, K).
///
/// Team-collective. With `state_out` (scan_gated) the new state of the row is also written there.
/// Returns a pointer to the row: xin, or the input itself for Prologue::none (nothing copied).
template <class Member>
KOKKOS_INLINE_FUNCTION const float* team_stage_row(const Member& m, const Stage& st, index_t r, float* xin,
                                                   float* state_out) {
  const index_t K = st.K;
  switch (st.pro) {
    case Prologue::none: return st.x.p + r * st.x.stride;
    case Prologue::rmsnorm: {
      const float* x = st.x.p + r * st.x.stride;
      const float rr = ref::rms_inv_from_sum(team_sum_sq(m, x, K), K, st.eps1);
      const float* w = st.w1;
      ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, K), [&](index_t k) { xin[k] = x[k] * rr * w[k]; });
      break;
    }
    case Prologue::gated:
    case Prologue::scan_gated: {
      const float* g = st.x.p + r * st.x.stride;
      const float rg = ref::rms_inv_from_sum(team_sum_sq(m, g, K), K, st.eps1);
      const float* w = st.w1;
      if (st.pro == Prologue::gated) {
        const float* s = st.si.p + r * st.si.stride;
        ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, K),
                               [&](index_t k) { xin[k] = (g[k] * rg * w[k]) * math::silu(s[k]); });
      } else {
        const float* iv = st.si.p + r * st.si.stride;
        const float* fv = st.sf.p + r * st.sf.stride;
        const float* sv = st.state.p + r * st.state.stride;
        const float* lb = st.lb;
        ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, K), [&](index_t k) {
          const float s = mlgru_step(iv[k], fv[k], sv[k], lb, k);
          if (state_out) state_out[k] = s;
          xin[k] = (g[k] * rg * w[k]) * math::silu(s);
        });
      }
      break;
    }
    case Prologue::glu: {
      const float* u = st.x.p + r * st.x.stride;
      ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, K),
                             [&](index_t k) { xin[k] = math::silu(u[k]) * u[K + k]; });
      break;
    }
  }
  m.team_barrier();
  return xin;
}

/// Team 0 of a launch copies the state staged by the previous launch (see Stage::copy_src).
template <class Member>
KOKKOS_INLINE_FUNCTION void team_side_copy(const Member& m, const Mat& src, const Mat& dst) {
  if (src.p == nullptr || m.league_rank() != 0) return;
  const index_t n = dst.rows * dst.cols, cols = dst.cols;
  ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, n), [&](index_t e) {
    const index_t r = e / cols, k = e % cols;
    dst.p[r * dst.stride + k] = src.p[r * src.stride + k];
  });
}

// ---------------------------------------------------------------------------------------------
// Unfused hooks (eager calls, and ops the planner could not fuse).

template <class Ex>
using TeamPol = ::Kokkos::TeamPolicy<Ex>;
template <class Ex>
using Member = typename TeamPol<Ex>::member_type;

/// out[r] = table[ids[r]] as f32 (F32, F16 or BF16 tables).
struct EmbedFunctor {
  Mat out;
  const void* table;
  DType dtype;
  const std::int32_t* ids;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    const index_t r = e / out.cols, k = e % out.cols;
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
    const index_t r = m.league_rank();
    const float* xr = x.p + r * x.stride;
    float* yr = y.p + r * y.stride;
    const float rr = ref::rms_inv_from_sum(team_sum_sq(m, xr, x.cols), x.cols, eps);
    ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, x.cols), [&](index_t k) { yr[k] = xr[k] * rr * w[k]; });
  }
};

/// out[r] = RMSNorm(g[r]) * w * silu(s[r]), one team a row.
template <class Ex>
struct GatedNormFunctor {
  Mat g, s, out;
  const float* w;
  float eps;
  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    const index_t r = m.league_rank();
    const float* gr = g.p + r * g.stride;
    const float* sr = s.p + r * s.stride;
    float* o = out.p + r * out.stride;
    const float rg = ref::rms_inv_from_sum(team_sum_sq(m, gr, g.cols), g.cols, eps);
    ::Kokkos::parallel_for(::Kokkos::TeamThreadRange(m, g.cols),
                           [&](index_t k) { o[k] = (gr[k] * rg * w[k]) * math::silu(sr[k]); });
  }
};

/// h += d, element-wise.
struct AddFunctor {
  Mat h, d;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    const index_t r = e / h.cols, k = e % h.cols;
    float& a = h.p[r * h.stride + k];
    a = a + d.p[r * d.stride + k];
  }
};

/// The MLGRU recurrence: one thread per (sequence, channel), sequential over time (no
/// reassociation: each step rounds exactly as backend::Serial does).
struct ScanFunctor {
  Mat i, f, state;
  const float* lb;
  index_t T;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    const index_t H = i.cols, b = e / H, d = e % H;
    ref::mlgru_channel(i.p + b * T * i.stride, i.stride, f.p + b * T * f.stride, f.stride, T, lb,
                       state.p + b * state.stride, d);
  }
};

/// v = silu(u[:I]) * u[I:], element-wise.
struct GluFunctor {
  Mat u, v;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    const index_t r = e / v.cols, k = e % v.cols;
    const float* ur = u.p + r * u.stride;
    v.p[r * v.stride + k] = math::silu(ur[k]) * ur[v.cols + k];
  }
};

/// dst = src (rows of f32), element-wise: the state copy when no fused launch follows.
struct CopyFunctor {
  Mat src, dst;
  KOKKOS_INLINE_FUNCTION void operator()(index_t e) const {
    const index_t r = e / dst.cols, k = e % dst.cols;
    dst.p[r * dst.stride + k] = src.p[r * src.stride + k];
  }
};

/// \brief Split path, step 1: one team a row computes the stage input (prologue) and quantises it
/// for each BitLinear of the stage: codes[b][r][kp], scales[b][r].
template <class Ex>
struct PrepFunctor {
  Stage st;
  KOKKOS_INLINE_FUNCTION void operator()(const Member<Ex>& m) const {
    team_side_copy(m, st.copy_src, st.copy_dst);
    const index_t r = m.league_rank();
    // scan_gated on the split path: each team owns its sequence's state row and each thread
    // reads then writes the same channels, so the new state goes straight to the state.
    float* state_out = st.pro == Prologue::scan_gated ? st.state.p + r * st.state.stride : nullptr;
    const float* row = team_stage_row(m, st, r, st.xbuf + r * st.K, state_out);
    for (int b = 0; b < st.nbl; ++b) {
      const Ternary& t = st.bl[b];
      std::int8_t* q = st.codes + (index_t(b) * st.R + r) * t.kp;
      const float sa = team_norm_quantize(m, row, t.norm, st.K, t.kp, q, nullptr);
      if (m.team_rank() == 0) st.scales[b * st.R + r] = sa;
      m.team_barrier();
    }
  }

};

}  // namespace kk
MMFREE_NAMESPACE_END
