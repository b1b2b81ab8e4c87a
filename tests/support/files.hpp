// SPDX-License-Identifier: MIT
// Whole-file read and write for tests that corrupt or inspect files.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace mmfree_test {

/// The bytes of file p ("" if it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Replaces file p's contents with s.
inline void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

}  // namespace mmfree_test
