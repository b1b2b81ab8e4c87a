// SPDX-License-Identifier: MIT
// What the Kokkos backend does with the hooks layers call: each call becomes an Op (a plain
// descriptor of pointers and sizes); a sequence of Ops recorded inside Context::run() is planned
// into fewer, fused launches (Plan), which run eagerly or as one replayed graph.
#pragma once

#include <cstdint>
#include <vector>

#include "../../core/concepts.hpp"
#include "../../core/types.hpp"
#include "../../model/weights.hpp"
#include "../kernels.hpp"

MMFREE_NAMESPACE_BEGIN
namespace kk {

/// An f32 matrix in device memory (a MatrixView without the const distinction).
struct Mat {
  float* p = nullptr;
  index_t rows = 0, cols = 0, stride = 0;

  Mat() = default;
  template <class T>
  Mat(MatrixView<T> v) : p(const_cast<float*>(v.data)), rows(v.rows), cols(v.cols), stride(v.stride) {}
  friend bool operator==(const Mat& a, const Mat& b) {
    return a.p == b.p && a.rows == b.rows && a.cols == b.cols && a.stride == b.stride;
  }
  /// Address range [begin, end) in bytes, for overlap tests.
  std::uintptr_t begin() const { return reinterpret_cast<std::uintptr_t>(p); }
  std::uintptr_t end() const {
    return rows <= 0 ? begin() : begin() + std::uintptr_t(((rows - 1) * stride + cols) * index_t(sizeof(float)));
  }
  bool overlaps(const Mat& o) const { return p && o.p && begin() < o.end() && o.begin() < end(); }
};

/// One BitLinear's packed weights (TernaryWeights without the packing type).
struct Ternary {
  const std::uint8_t* codes = nullptr;
  const float* norm = nullptr;
  index_t rows = 0, cols = 0, row_bytes = 0;
  index_t kp = 0;  ///< padded_cols<P>(cols): codes per activation row
  float w_scale = 1.0f;
  friend bool operator==(const Ternary& a, const Ternary& b) {
    return a.codes == b.codes && a.norm == b.norm && a.rows == b.rows && a.cols == b.cols &&
           a.row_bytes == b.row_bytes && a.kp == b.kp && a.w_scale == b.w_scale;
  }
};

template <class Ex>
struct Launcher;
struct Stage;

/// \brief The packing-specific launchers of one <packing, space>: plain function pointers, so
/// the context stays independent of the packing type.
template <class Ex>
struct TernaryOps {
  const char* gemv_label;
  const char* gemm_label;
  void (*gemv)(Launcher<Ex>&, const Stage&);
  void (*gemm)(Launcher<Ex>&, const Stage&);
  /// chained GEMV: `next` (or nullptr) is the stage whose input the launch's last team quantises
  void (*gemv_chain)(Launcher<Ex>&, const Stage&, const Stage* next);
  void (*gemv_prep)(Launcher<Ex>&, const Stage&);  ///< one team quantises a chained stage's input
};

/// Which hook an Op came from.
enum class OpKind : std::uint8_t { embed, rmsnorm, add, scan, gated_norm, glu, bitlinear };

/// \brief One hook call. Field use by kind (a, b, c are f32 matrices):
///   embed: c = out, table, ids          rmsnorm: a = x, c = y, w, eps     add: a = h (+)= b
///   scan: a = i (in/out), b = f, c = state, w = lower bound, batch, T
///   gated_norm: a = g, b = s, c = out, w, eps      glu: a = u, c = v
///   bitlinear: a = x, c = y, t (weights), ops (packing launchers)
struct Op {
  OpKind kind = OpKind::add;
  Mat a, b, c;
  const float* w = nullptr;
  float eps = 0.0f;
  index_t batch = 0, T = 0;
  EmbeddingTable table{};
  const std::int32_t* ids = nullptr;
  Ternary t{};
  const void* ops = nullptr;  ///< TernaryOps<Ex>* of the packing

  friend bool operator==(const Op& x, const Op& y) {
    return x.kind == y.kind && x.a == y.a && x.b == y.b && x.c == y.c && x.w == y.w && x.eps == y.eps &&
           x.batch == y.batch && x.T == y.T && x.table.data == y.table.data && x.table.dtype == y.table.dtype &&
           x.table.rows == y.table.rows && x.table.cols == y.table.cols && x.ids == y.ids && x.t == y.t &&
           x.ops == y.ops;
  }
  /// Matrices this op reads (for the liveness test of skipped intermediates); returns how many.
  int reads(Mat out[3]) const {
    switch (kind) {
      case OpKind::embed: return 0;
      case OpKind::rmsnorm:
      case OpKind::glu:
      case OpKind::bitlinear: out[0] = a; return 1;
      case OpKind::add:
      case OpKind::gated_norm: out[0] = a, out[1] = b; return 2;
      case OpKind::scan: out[0] = a, out[1] = b, out[2] = c; return 3;
    }
    return 0;
  }
  /// Matrices this op writes; returns how many.
  int writes(Mat out[2]) const {
    switch (kind) {
      case OpKind::add: out[0] = a; return 1;
      case OpKind::scan: out[0] = a, out[1] = c; return 2;
      default: out[0] = c; return 1;
    }
  }
};

/// Input transform fused in front of a BitLinear (what produces the rows it quantises).
enum class Prologue : std::uint8_t {
  none,        ///< x itself
  rmsnorm,     ///< RMSNorm(x; w1, eps1)
  gated,       ///< RMSNorm(g = x; w1, eps1) * silu(s)
  scan_gated,  ///< the one-step MLGRU update of (i, f, state), then `gated` with s = the new state
  glu          ///< silu(u[:K]) * u[K:] with u = x
};

/// \brief Element-wise work a decode GEMV does on its own outputs, once per output element,
/// so that the next GEMV's prologue (recomputed by every team) need not.
enum class Epilogue : std::uint8_t {
  none,
  glu,   ///< nbl == 1 with 2 E rows (E = e_out.cols): a SIMD group computes rows n and E + n
         ///< together and also writes e_out[n] = silu(y[n]) * y[E + n] (the next stage's GLU)
  mlgru  ///< nbl == 3 (i, f, g of an MLGRU): a SIMD group computes rows n of y[e_i] and y[e_f]
         ///< together (the team quantises the input for both) and does the recurrence step as the
         ///< scan hook would: e_state[n] = y[e_i][n] = the new state (y[e_f] as usual); the third
         ///< BitLinear's rows as usual
};

/// \brief 1-3 BitLinears that share one input (after the prologue), with an optional residual
/// epilogue (y[0] += result instead of y[0] = result).
struct Stage {
  Prologue pro = Prologue::none;
  Mat x;                       ///< prologue input (see Prologue)
  Mat in;                      ///< the BitLinears' input (what the prologue computes; not written)
  const float* w1 = nullptr;   ///< norm weight of rmsnorm / gated
  float eps1 = 0.0f;
  Mat si, sf, state;           ///< scan_gated: i, f (one row per sequence) and the [batch, H] state
  const float* lb = nullptr;   ///< scan_gated: lower bound or nullptr
  int nbl = 0;
  Ternary bl[3];
  Mat y[3];
  bool residual = false;
  Epilogue epi = Epilogue::none;  ///< decode GEMV only (set by the planner)
  Mat e_out;                   ///< epi == glu: the GLU output
  Mat e_state;                 ///< epi == mlgru: the recurrent state (one row)
  const float* e_lb = nullptr; ///< epi == mlgru: the forget gate's lower bound or nullptr
  int e_i = 0, e_f = 1;        ///< epi == mlgru: which BitLinears are i and f
  const void* ops = nullptr;   ///< TernaryOps<Ex>*
  index_t R = 0;               ///< activation rows
  index_t K = 0;               ///< input features of the BitLinears

  // Filled by the planner for the launch:
  float* staged_state = nullptr;  ///< gemv + scan_gated: team 0 writes the new state here ...
  Mat copy_src, copy_dst;         ///< ... and the next launch's team 0 copies copy_src -> copy_dst
  std::int8_t* codes = nullptr;   ///< split path: [nbl][R][kp] codes written by the prep kernel
  float* scales = nullptr;        ///< split path: [nbl][R] activation scales
  float* xbuf = nullptr;          ///< split path: [R][K] f32 prologue rows
  int team = 0;                   ///< gemv: threads a team (0: the space's choice)
  int rows_per_group = 0;         ///< gemv: weight rows a SIMD group computes (0: about one wave of groups)
  int pro_threads = 0;            ///< gemv: threads that compute the prologue (0: all)
  int lanes_per_row = 0;          ///< gemv: lanes of a SIMD group a weight row (set at launch; 0: all)
  int wave_percent = 100;         ///< gemv: share of the device's SIMD group slots the launch fills
  bool prefetch = true;           ///< gemv/prep: prefetch the prologue's inputs into L1 first (GPUs)
  int teams[3] = {0, 0, 0};       ///< teams per BitLinear (gemv: set at launch)
  int tile = 0;                   ///< gemm: tile size class (0 64x128, 1 32x64, 2 16 rows)
  bool mma = false;               ///< gemm: int8 tensor cores (CUDA)
  // GEMV chain (PlanOptions::gemv_chain): the input is quantised once, before the launch
  bool chained = false;           ///< gemv / gprep: codes, scales, qsums hold this stage's quantised input
  int slot = 0;                   ///< which of the two code slots (consecutive stages alternate)
  index_t code_stride = 0;        ///< codes of BitLinear b at codes + b * code_stride (plane layout)
  std::int32_t* qsums = nullptr;  ///< sum of the codes of each BitLinear (the offset term of I2/TQ1)
  int* counter = nullptr;         ///< teams done (the last one quantises the next stage's input)
};

/// \brief Level-0 scratch of a GEMV team: the activation codes (16-byte aligned), then the f32
/// input row when the prologue goes through scratch (`with_row`; not for Prologue::none).
MMFREE_HOST_DEVICE std::size_t gemv_row_offset(const Stage& st) {
  // (the MLGRU epilogue's i/f teams quantise the input twice: two code sets)
  return (st.epi == Epilogue::mlgru ? 2 : 1) * ((std::size_t(st.bl[0].kp) + 15) / 16 * 16);
}
MMFREE_HOST_DEVICE std::size_t gemv_scratch_bytes(const Stage& st, bool with_row = true) {
  const bool row = with_row && st.pro != Prologue::none;
  return gemv_row_offset(st) + (row ? (std::size_t(st.K) * sizeof(float) + 15) / 16 * 16 : 0);
}

/// One launch of a plan.
struct Launch {
  enum Kind : std::uint8_t { op, gemv, prep, gemm, copy, gprep } kind = op;
  Op o;      ///< kind == op: an unfused hook
  Stage s;   ///< gemv / prep / gemm; copy uses s.copy_src -> s.copy_dst
};

/// \brief Planner knobs, part of the backend context's options.
struct PlanOptions {
  bool fuse = true;            ///< fuse norms, the recurrence step, GLU and residual adds into BitLinears
  bool gemv = true;            ///< one activation row: fused GEMV
  bool gemv_chain = false;     ///< GEMV: quantise each input once (in the last team of the previous GEMV,
                               ///< or a one-team launch), not in every team of the consuming GEMV
                               ///< (off by default: slower on the H100, see docs/gpu.md)
  int gemv_smem_bytes = 44 * 1024;  ///< level-0 scratch a GEMV team may use (else the split path)
  int gemv_rows_per_group = 0; ///< weight rows per SIMD group of a GEMV team (0: about one wave of groups)
  int gemv_team = 0;           ///< GPUs: threads of a GEMV team (0: 1024, fewer if the kernel's registers
                               ///< do not allow it); host spaces always run teams of one thread
  bool prefetch = true;        ///< GPUs: prefetch a fused prologue's inputs into L1 before its dependent phases
  bool gemv_epilogues = true;  ///< decode: the GEMV before a GLU stage computes the GLU, the i/f/g GEMV
                               ///< the recurrence step, in their epilogues (once per element instead of
                               ///< in every team of the next GEMV)
  int gemv_prologue_threads = 0;  ///< threads of a GEMV team that compute its prologue (0: all)
  int gemv_wave_percent = 100; ///< share (%) of the device's SIMD group slots a GEMV launch fills (rows per
                               ///< group follow from it): below 100, the next launch's teams find room to
                               ///< start early (Options::programmatic)
  int small_tile_rows = 16;    ///< the GEMM uses its small tile up to this many rows
  int gemm_tile = -1;          ///< force a GEMM tile class (0 64x128, 1 32x64, 2 16 rows); -1: by size
  bool tensor_cores = true;    ///< int8 tensor cores for the GEMM where the space has them (CUDA)
};

/// Device scratch the plan needs (sizes in elements), kept by the context, grown on demand.
struct ScratchNeeds {
  index_t codes = 0, scales = 0, xbuf = 0, staged = 0;
};

/// \brief True when nothing after ops[from] reads any part of m before that part is overwritten,
/// so a fused stage need not write m. Scratch is unspecified after a program, so the end of the
/// program counts as dead. Address ranges are conservative for strided views.
inline bool dead_after(const std::vector<Op>& ops, std::size_t from, const Mat& m) {
  struct Span {
    std::uintptr_t lo, hi;
  };
  constexpr int max_spans = 16;
  Span covered[max_spans];
  int nc = 0;
  auto is_covered = [&](std::uintptr_t lo, std::uintptr_t hi) {
    for (bool moved = true; lo < hi && moved;) {
      moved = false;
      for (int k = 0; k < nc; ++k)
        if (covered[k].lo <= lo && lo < covered[k].hi) lo = covered[k].hi, moved = true;
    }
    return lo >= hi;
  };
  for (std::size_t j = from; j < ops.size(); ++j) {
    Mat r[3], w[2];
    const int nr = ops[j].reads(r);
    for (int k = 0; k < nr; ++k) {
      if (!r[k].overlaps(m)) continue;
      if (!is_covered(std::max(r[k].begin(), m.begin()), std::min(r[k].end(), m.end()))) return false;
    }
    const int nw = ops[j].writes(w);
    for (int k = 0; k < nw; ++k) {
      // only dense writes cover their whole address range
      if (!w[k].overlaps(m) || !(w[k].stride == w[k].cols || w[k].rows == 1) || nc == max_spans) continue;
      covered[nc++] = Span{std::max(w[k].begin(), m.begin()), std::min(w[k].end(), m.end())};
    }
    if (is_covered(m.begin(), m.end())) return true;
  }
  return true;
}

/// \brief Tries to match a fused stage at ops[i]; returns the number of ops it covers (0: none).
inline std::size_t match_stage(const std::vector<Op>& ops, std::size_t i, Stage& st) {
  const std::size_t n = ops.size();
  std::size_t j = i;
  st = Stage{};
  auto next_is_bitlinear_on = [&](std::size_t k, const Mat& in) {
    return k < n && ops[k].kind == OpKind::bitlinear && ops[k].a == in;
  };
  const Op& o = ops[i];
  if (o.kind == OpKind::rmsnorm && next_is_bitlinear_on(i + 1, o.c)) {
    st.pro = Prologue::rmsnorm, st.x = o.a, st.w1 = o.w, st.eps1 = o.eps;
    j = i + 1;
  } else if (o.kind == OpKind::scan && o.T == 1 && i + 1 < n && ops[i + 1].kind == OpKind::gated_norm &&
             ops[i + 1].b == o.a && ops[i + 1].a.rows == o.batch && next_is_bitlinear_on(i + 2, ops[i + 1].c) &&
             !o.a.overlaps(ops[i + 1].a) && !o.c.overlaps(ops[i + 1].a)) {
    st.pro = Prologue::scan_gated, st.si = o.a, st.sf = o.b, st.state = o.c, st.lb = o.w;
    st.x = ops[i + 1].a, st.w1 = ops[i + 1].w, st.eps1 = ops[i + 1].eps;
    j = i + 2;
  } else if (o.kind == OpKind::gated_norm && next_is_bitlinear_on(i + 1, o.c)) {
    st.pro = Prologue::gated, st.x = o.a, st.si = o.b, st.w1 = o.w, st.eps1 = o.eps;
    j = i + 1;
  } else if (o.kind == OpKind::glu && next_is_bitlinear_on(i + 1, o.c) && o.a.cols == 2 * o.c.cols) {
    st.pro = Prologue::glu, st.x = o.a;
    j = i + 1;
  } else if (o.kind != OpKind::bitlinear) {
    return 0;
  }
  const Mat in = ops[j].a;
  const Op& first = ops[j];
  while (j < n && st.nbl < 3 && ops[j].kind == OpKind::bitlinear && ops[j].a == in && ops[j].ops == first.ops &&
         ops[j].t.cols == first.t.cols) {
    // an output that feeds a later BitLinear of the group, or aliases an input, ends the group
    bool clash = ops[j].c.overlaps(in) || ops[j].c.overlaps(st.x) || ops[j].c.overlaps(st.si) ||
                 ops[j].c.overlaps(st.sf) || ops[j].c.overlaps(st.state);
    for (int b = 0; b < st.nbl; ++b) clash = clash || ops[j].c.overlaps(st.y[b]);
    if (clash) break;
    st.bl[st.nbl] = ops[j].t;
    st.y[st.nbl] = ops[j].c;
    ++st.nbl;
    ++j;
  }
  if (st.nbl == 0) return 0;
  st.ops = first.ops;
  st.in = in;
  if (st.pro == Prologue::none) st.x = in;
  st.R = in.rows;
  st.K = first.t.cols;
  // The intermediate the prologue replaces (rmsnorm's y, gated_norm's out, glu's v, the scan's i)
  // is not written: it must be dead afterwards.
  if (st.pro != Prologue::none && !dead_after(ops, j, in)) return 0;
  if (st.pro == Prologue::scan_gated && !dead_after(ops, j, st.si)) return 0;
  // residual epilogue: the next op adds the single output into h
  if (st.nbl == 1 && j < n && ops[j].kind == OpKind::add && ops[j].b == st.y[0] && ops[j].a.rows == st.R &&
      ops[j].a.cols == st.y[0].cols && !ops[j].a.overlaps(in) && !ops[j].a.overlaps(st.x) &&
      !ops[j].a.overlaps(st.si) && !ops[j].a.overlaps(st.sf) && !ops[j].a.overlaps(st.state) &&
      !ops[j].a.overlaps(st.y[0]) && dead_after(ops, j + 1, st.y[0])) {
    st.residual = true;
    st.y[0] = ops[j].a;
    ++j;
  }
  return j - i;
}

}  // namespace kk
MMFREE_NAMESPACE_END
