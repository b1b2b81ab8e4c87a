// SPDX-License-Identifier: MIT
// Basic index type and the non-owning row-major matrix view every layer and kernel takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN

/// Signed index used for every size and offset (no unsigned wrap-around in loops).
using index_t = std::int64_t;

/// \brief Non-owning, row-major 2-D view: `rows` rows of `cols` elements, `stride` apart.
///
/// The pointer may live in any memory space; the backend that receives it decides. Layers only
/// pass views around, they never dereference device memory.
template <class T>
struct MatrixView {
  T* data = nullptr;
  index_t rows = 0;
  index_t cols = 0;
  index_t stride = 0;  ///< elements between the starts of two rows (>= cols)

  MatrixView() = default;
  MMFREE_HOST_DEVICE MatrixView(T* d, index_t r, index_t c) : data(d), rows(r), cols(c), stride(c) {}
  MMFREE_HOST_DEVICE MatrixView(T* d, index_t r, index_t c, index_t s) : data(d), rows(r), cols(c), stride(s) {}
  /// Implicit conversion to a view of const elements.
  template <class U>
    requires(!std::is_same_v<U, T> && std::is_same_v<const U, T>)
  MMFREE_HOST_DEVICE MatrixView(const MatrixView<U>& o) : data(o.data), rows(o.rows), cols(o.cols), stride(o.stride) {}

  MMFREE_HOST_DEVICE T* row(index_t r) const { return data + r * stride; }
  MMFREE_HOST_DEVICE T& operator()(index_t r, index_t c) const { return data[r * stride + c]; }
  /// Rows [first, first + count).
  MMFREE_HOST_DEVICE MatrixView rows_slice(index_t first, index_t count) const {
    return MatrixView(data + first * stride, count, cols, stride);
  }
  /// Columns [first, first + count) of every row.
  MMFREE_HOST_DEVICE MatrixView cols_slice(index_t first, index_t count) const {
    return MatrixView(data + first, rows, count, stride);
  }
};

template <class T>
using ConstMatrixView = MatrixView<const T>;

MMFREE_NAMESPACE_END
