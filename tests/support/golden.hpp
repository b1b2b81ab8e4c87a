// SPDX-License-Identifier: MIT
// Access to the golden data produced by the upstream implementation (../shared/golden).
#pragma once

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <mmfree/mmfree.hpp>

#ifndef MMFREE_GOLDEN_DIR
#error "MMFREE_GOLDEN_DIR must point at the golden data"
#endif

namespace mmfree_test {

/// The golden data folder: $MMFREE_GOLDEN_DIR when set (tests run on another machine), else the
/// folder CMake found.
inline std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("MMFREE_GOLDEN_DIR"); env != nullptr && *env != '\0') return env;
  return MMFREE_GOLDEN_DIR;
}

/// A golden tensor as f32 values (any stored float type).
inline std::vector<float> as_f32(const mmfree::io::TensorInfo& t) {
  std::vector<float> v(std::size_t(t.numel()));
  for (mmfree::index_t i = 0; i < t.numel(); ++i) v[std::size_t(i)] = t.at(i);
  return v;
}

/// input_ids as int32.
inline std::vector<std::int32_t> ids_of(const mmfree::io::SafetensorsFile& e) {
  const auto& t = e.get("input_ids");
  std::vector<std::int32_t> ids(std::size_t(t.numel()));
  for (mmfree::index_t i = 0; i < t.numel(); ++i) {
    std::int64_t v;
    std::memcpy(&v, t.data + 8 * i, 8);
    ids[std::size_t(i)] = std::int32_t(v);
  }
  return ids;
}

}  // namespace mmfree_test
