// SPDX-License-Identifier: MIT
// Error measures of model-spec.md "Agreement to expect".
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace mmfree_test {

/// max|a - b| / max|b|
inline double max_rel(std::span<const float> a, std::span<const float> b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return den > 0 ? num / den : num;
}

/// mean|a - b| / mean|b|
inline double mean_rel(std::span<const float> a, std::span<const float> b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += std::fabs(double(a[i]) - double(b[i]));
    den += std::fabs(double(b[i]));
  }
  return den > 0 ? num / den : num;
}

/// Fraction of rows of `cols` values whose argmax agrees.
inline double argmax_agreement(std::span<const float> a, std::span<const float> b, std::size_t cols) {
  const std::size_t rows = a.size() / cols;
  std::size_t same = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    auto ra = a.subspan(r * cols, cols), rb = b.subspan(r * cols, cols);
    same += std::max_element(ra.begin(), ra.end()) - ra.begin() == std::max_element(rb.begin(), rb.end()) - rb.begin();
  }
  return rows ? double(same) / double(rows) : 1.0;
}

}  // namespace mmfree_test
