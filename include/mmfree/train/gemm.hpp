// SPDX-License-Identifier: MIT
// The dense f32 products of training, through Eigen, split over a ThreadPool. Each output block
// belongs to one thread and is computed by one Eigen call, so results depend only on the thread
// count, never on timing.
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "../core/types.hpp"
#include "parallel.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {
namespace gemm {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Map = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

inline Map map(MatrixView<float> v) { return Map(v.data, v.rows, v.cols, Eigen::OuterStride<>(v.stride)); }
inline ConstMap map(ConstMatrixView<float> v) {
  return ConstMap(v.data, v.rows, v.cols, Eigen::OuterStride<>(v.stride));
}

/// Rows of C per piece so a piece holds at least `work` multiply-adds.
inline index_t grain(index_t work, index_t cols, index_t inner) {
  return std::max<index_t>(1, work / std::max<index_t>(1, cols * inner));
}

/// C[M, N] (+)= A[M, K] * B[N, K]^T, rows of C split over the pool.
inline void abt(ThreadPool& pool, ConstMatrixView<float> a, ConstMatrixView<float> b, MatrixView<float> c,
                bool accumulate, index_t work = index_t(1) << 18) {
  pool.parallel_for(c.rows, [&](index_t r0, index_t r1, int) {
    auto cm = map(c.rows_slice(r0, r1 - r0));
    auto am = map(a.rows_slice(r0, r1 - r0));
    if (accumulate)
      cm.noalias() += am * map(b).transpose();
    else
      cm.noalias() = am * map(b).transpose();
  }, grain(work, c.cols, a.cols));
}

/// C[M, N] (+)= A[M, K] * B[K, N], rows of C split over the pool.
inline void ab(ThreadPool& pool, ConstMatrixView<float> a, ConstMatrixView<float> b, MatrixView<float> c,
               bool accumulate, index_t work = index_t(1) << 18) {
  pool.parallel_for(c.rows, [&](index_t r0, index_t r1, int) {
    auto cm = map(c.rows_slice(r0, r1 - r0));
    auto am = map(a.rows_slice(r0, r1 - r0));
    if (accumulate)
      cm.noalias() += am * map(b);
    else
      cm.noalias() = am * map(b);
  }, grain(work, c.cols, a.cols));
}

/// C[M, N] (+)= A[K, M]^T * B[K, N] (a sum over the K rows of A and B), rows of C split over the pool.
inline void atb(ThreadPool& pool, ConstMatrixView<float> a, ConstMatrixView<float> b, MatrixView<float> c,
                bool accumulate, index_t work = index_t(1) << 18) {
  pool.parallel_for(c.rows, [&](index_t r0, index_t r1, int) {
    auto cm = map(c.rows_slice(r0, r1 - r0));
    auto am = map(a.cols_slice(r0, r1 - r0));
    if (accumulate)
      cm.noalias() += am.transpose() * map(b);
    else
      cm.noalias() = am.transpose() * map(b);
  }, grain(work, c.cols, a.rows));
}

}  // namespace gemm
}  // namespace train
MMFREE_NAMESPACE_END
