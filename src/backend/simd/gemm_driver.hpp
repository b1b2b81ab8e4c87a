// SPDX-License-Identifier: MIT
// The blocking of the multi-token ternary product, shared by the x86 and NEON kernel headers
// (included inside their TU namespace after they define gemm_nr, gemm_mr and micro<M>()).
//
//   token blocks of tb tokens  -- their codes (tb x K bytes) stay in L2
//     tiles of gemm_nr rows    -- unpacked once per token block into per-thread scratch (L1/L2)
//       K slabs                -- only when K is too long for the scratch
//         micro<gemm_mr>       -- register-blocked dot products along K
//
// Every output is a finished int32 sum before it is rescaled (ref::dequantize), so the blocking
// changes no bit of the result.
#pragma once

/// sums[i][j] for MR tokens and gemm_nr rows, over kc codes from u (rows us apart) and q[i].
template <int MR>
MMFREE_FORCEINLINE void micro_tokens(const std::uint8_t* u, index_t us, const TernaryProblem& p, index_t r,
                                     index_t k0, index_t kc, std::int32_t (*sums)[4]) {
  const std::int8_t* q[MR];
  for (int i = 0; i < MR; ++i) q[i] = p.codes + (r + i) * p.code_stride + k0;
  micro<MR, gemm_nr>(u, us, q, kc, sums);
}

template <class C>
void gemm(const TernaryProblem& p, index_t n0, index_t n1, ScratchSpan scratch) {
  constexpr int NR = gemm_nr, MR = gemm_mr;
  static_assert(NR <= 4, "partial sums hold 4 rows");
  const index_t groups = p.row_bytes / 32, kp = groups * C::group_k;
  // K slab: NR rows of unpacked codes fill at most half the scratch; the rest holds partial sums.
  const index_t max_groups = (scratch.bytes / 2) / (NR * C::group_k);
  const index_t slab_groups = groups < max_groups ? groups : max_groups;
  const index_t us = slab_groups * C::group_k;  // unpacked row stride
  std::uint8_t* u = scratch.data;
  auto* part = reinterpret_cast<std::int32_t(*)[4]>(scratch.data + scratch.bytes / 2);
  const index_t part_rows = (scratch.bytes / 2) / index_t(sizeof(std::int32_t[4]));
  // tokens per block: their codes about 256 KiB, a multiple of MR
  index_t tb = (index_t(256) * 1024 / kp) / MR * MR;
  if (tb < MR) tb = MR;
  if (tb > part_rows) tb = part_rows / MR * MR;
  for (index_t rb = 0; rb < p.rows; rb += tb) {
    const index_t rows = p.rows - rb < tb ? p.rows - rb : tb;
    for (index_t n = n0; n < n1; n += NR) {
      const int nr = n1 - n < NR ? int(n1 - n) : NR;
      for (index_t r = 0; r < rows; ++r)
        for (int j = 0; j < NR; ++j) part[r][j] = 0;
      for (index_t g0 = 0; g0 < groups; g0 += slab_groups) {
        const index_t ng = groups - g0 < slab_groups ? groups - g0 : slab_groups;
        for (int j = 0; j < NR; ++j) {  // missing rows of a short tile repeat the last row
          const std::uint8_t* row = p.weights + (n + (j < nr ? j : nr - 1)) * p.row_bytes + g0 * 32;
          for (index_t g = 0; g < ng; ++g) C::unpack(row + g * 32, u + j * us + g * C::group_k);
        }
        const index_t k0 = g0 * C::group_k, kc = ng * C::group_k;
        index_t r = 0;
        for (; r + MR <= rows; r += MR) micro_tokens<MR>(u, us, p, rb + r, k0, kc, part + r);
        for (; r < rows; ++r) micro_tokens<1>(u, us, p, rb + r, k0, kc, part + r);
      }
      for (index_t r = 0; r < rows; ++r) {
        const index_t t = rb + r;
        const float denom = p.act_scale[t] * p.w_scale;
        float* y = p.out + t * p.out_stride + n;
        for (int j = 0; j < nr; ++j) y[j] = float(part[r][j] - p.code_sums[t]) / denom;  // ref::dequantize
      }
    }
  }
}
