// SPDX-License-Identifier: MIT
// The boundary between backend::Simd's templates and its compiled per-ISA kernels: plain structs
// and function pointers only, so each ISA's translation unit (built with its own -m flags) shares
// no inline code with the rest of the program (no ODR trap).
#pragma once

#include <cstdint>

#include "../../core/types.hpp"
#include "path.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd {

/// Packings the compiled kernels know (index into KernelTable::ternary).
enum class PackingId : std::uint8_t { i8 = 0, i2 = 1, tq1 = 2 };
inline constexpr int packing_count = 3;

/// \brief One ternary product: for token rows r < rows and weight rows n,
///   out[r][n] = float(sum_k codes[r][k] * t[n][k]) / (act_scale[r] * w_scale)
/// with exact int32 sums (ref::dequantize). Codes beyond `cols` must be zero.
struct TernaryProblem {
  const std::uint8_t* weights = nullptr;  ///< packed row n at weights + n * row_bytes
  index_t row_bytes = 0;
  index_t cols = 0;                       ///< K
  index_t padded_cols = 0;                ///< codes per token row (K rounded up to whole blocks)
  float w_scale = 1.0f;
  const std::int8_t* codes = nullptr;     ///< [rows, padded_cols] int8 activation codes
  index_t code_stride = 0;
  const float* act_scale = nullptr;       ///< [rows] s_a
  const std::int32_t* code_sums = nullptr;///< [rows] sum of the codes (offset-coded packings need it)
  index_t rows = 0;                       ///< tokens
  float* out = nullptr;                   ///< [rows, N] outputs
  index_t out_stride = 0;
};

/// Per-thread scratch memory handed to a kernel (fixed size, allocated once by the context).
struct ScratchSpan {
  std::uint8_t* data = nullptr;
  index_t bytes = 0;
};

/// Computes weight rows [n_begin, n_end) of a TernaryProblem for every token row.
using TernaryFn = void (*)(const TernaryProblem&, index_t n_begin, index_t n_end, ScratchSpan);

/// rinv[r] = ref::rms_inv(x[r], n, eps) for `rows` rows (sequential double sums, as the oracle).
using RmsInvFn = void (*)(const float* x, index_t x_stride, index_t n, index_t rows, float eps, float* rinv);
/// ref::norm_quantize_row with a precomputed rinv: codes (zero-filled up to `padded`), s_a, code sums.
using QuantizeFn = void (*)(const float* x, index_t x_stride, const float* rinv, const float* w, index_t n,
                            index_t padded, index_t rows, std::int8_t* q, index_t q_stride, float* act_scale,
                            std::int32_t* code_sums);
/// y[r][k] = (x[r][k] * rinv[r]) * w[k] (the RMSNorm product order of ref::rmsnorm_row).
using ScaleFn = void (*)(const float* x, index_t x_stride, const float* rinv, const float* w, index_t n,
                         index_t rows, float* y, index_t y_stride);
/// out[r][k] = ((g[r][k] * rinv[r]) * w[k]) * silu(s[r][k]) (ref::gated_norm_row after its rms_inv).
using GatedFn = void (*)(const float* g, index_t g_stride, const float* rinv, const float* w, const float* s,
                         index_t s_stride, index_t n, index_t rows, float* out, index_t out_stride);
/// ref::mlgru_channel for channels [0, n) of one sequence of T steps (i overwritten with states).
using ScanFn = void (*)(float* i, index_t i_stride, const float* f, index_t f_stride, index_t T, const float* lb,
                        float* state, index_t n);
/// v[r][k] = silu(gate[r][k]) * up[r][k] (ref::glu_row).
using GluFn = void (*)(const float* gate, const float* up, index_t u_stride, index_t n, index_t rows, float* v,
                       index_t v_stride);
/// h[r][k] = h[r][k] + d[r][k].
using AddFn = void (*)(float* h, index_t h_stride, const float* d, index_t d_stride, index_t n, index_t rows);
/// Sum of the 64-bit words of [p, p + bytes) (bytes a multiple of 128; p 64-byte aligned): a pure
/// read stream with the path's widest loads, for measuring the memory bandwidth the kernels see.
using ReadSumFn = std::uint64_t (*)(const void* p, index_t bytes);

/// \brief Every kernel of one Path.
struct KernelTable {
  Path path = Path::scalar;
  TernaryFn ternary[packing_count] = {};  ///< by PackingId
  RmsInvFn rms_inv = nullptr;
  QuantizeFn quantize = nullptr;
  ScaleFn scale = nullptr;
  GatedFn gated = nullptr;
  ScanFn scan = nullptr;
  GluFn glu = nullptr;
  AddFn add = nullptr;
  ReadSumFn read_sum = nullptr;
};

/// The kernels of `p` (Path::best: of best_path()). Throws mmfree::Error when `p` is not compiled
/// in or this CPU cannot run it.
const KernelTable& kernel_table(Path p);

}  // namespace simd
MMFREE_NAMESPACE_END
