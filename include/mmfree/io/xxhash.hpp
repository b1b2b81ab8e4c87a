// SPDX-License-Identifier: MIT
// XXH64 (Yann Collet's xxHash, 64-bit variant), written from the published specification: the
// checksum of packed model files. Streaming, so large sections hash through a small buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// \brief Incremental XXH64.
class XXH64 {
 public:
  explicit XXH64(std::uint64_t seed = 0) : seed_(seed) {
    v_[0] = seed + P1 + P2;
    v_[1] = seed + P2;
    v_[2] = seed;
    v_[3] = seed - P1;
  }
  void update(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    total_ += n;
    if (buf_n_ + n < 32) {
      std::memcpy(buf_ + buf_n_, p, n);
      buf_n_ += n;
      return;
    }
    if (buf_n_ > 0) {
      const std::size_t fill = 32 - buf_n_;
      std::memcpy(buf_ + buf_n_, p, fill);
      stripe(buf_);
      p += fill;
      n -= fill;
      buf_n_ = 0;
    }
    while (n >= 32) {
      stripe(p);
      p += 32;
      n -= 32;
    }
    std::memcpy(buf_, p, n);
    buf_n_ = n;
  }
  std::uint64_t digest() const {
    std::uint64_t h;
    if (total_ >= 32) {
      h = rotl(v_[0], 1) + rotl(v_[1], 7) + rotl(v_[2], 12) + rotl(v_[3], 18);
      for (std::uint64_t v : v_) h = merge(h, v);
    } else {
      h = seed_ + P5;
    }
    h += total_;
    const std::uint8_t* p = buf_;
    std::size_t n = buf_n_;
    while (n >= 8) {
      h ^= round(0, read64(p));
      h = rotl(h, 27) * P1 + P4;
      p += 8;
      n -= 8;
    }
    if (n >= 4) {
      h ^= std::uint64_t(read32(p)) * P1;
      h = rotl(h, 23) * P2 + P3;
      p += 4;
      n -= 4;
    }
    while (n > 0) {
      h ^= std::uint64_t(*p) * P5;
      h = rotl(h, 11) * P1;
      ++p;
      --n;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
  }
  /// One-shot hash of a buffer.
  static std::uint64_t hash(const void* data, std::size_t n, std::uint64_t seed = 0) {
    XXH64 x(seed);
    x.update(data, n);
    return x.digest();
  }

 private:
  static constexpr std::uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full, P3 = 0x165667B19E3779F9ull,
                                 P4 = 0x85EBCA77C2B2AE63ull, P5 = 0x27D4EB2F165667C5ull;
  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static std::uint64_t read64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];  // little-endian on every host
    return v;
  }
  static std::uint32_t read32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
  }
  static std::uint64_t round(std::uint64_t acc, std::uint64_t in) {
    acc += in * P2;
    acc = rotl(acc, 31);
    return acc * P1;
  }
  static std::uint64_t merge(std::uint64_t acc, std::uint64_t v) {
    acc ^= round(0, v);
    return acc * P1 + P4;
  }
  void stripe(const std::uint8_t* p) {
    for (int i = 0; i < 4; ++i) v_[i] = round(v_[i], read64(p + 8 * i));
  }

  std::uint64_t seed_;
  std::uint64_t v_[4];
  std::uint8_t buf_[32] = {};
  std::size_t buf_n_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace io
MMFREE_NAMESPACE_END
