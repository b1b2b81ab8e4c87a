// SPDX-License-Identifier: MIT
// Storage number formats (f32, f16, bf16, integers) and exact conversions between them.
// g++ 12 has no std::float16_t / std::bfloat16_t, so half types are handled as bit patterns.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "../macros.hpp"

MMFREE_NAMESPACE_BEGIN

/// Element types that occur in checkpoints, packed files and outputs.
enum class DType : std::uint8_t { F32, F16, BF16, I8, U8, I32, I64, F64 };

/// Bytes per element.
MMFREE_HOST_DEVICE constexpr int dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::F64: return 8;
  }
  return 0;
}

/// Name as safetensors writes it ("F32", "BF16", ...).
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::F64: return "F64";
  }
  return "?";
}

/// Parses a safetensors dtype name; returns false for names mmfree does not read.
constexpr bool parse_dtype(std::string_view s, DType& out) {
  constexpr DType all[] = {DType::F32, DType::F16, DType::BF16, DType::I8,
                           DType::U8,  DType::I32, DType::I64,  DType::F64};
  for (DType t : all)
    if (dtype_name(t) == s) {
      out = t;
      return true;
    }
  return false;
}

MMFREE_HOST_DEVICE float bits_to_f32(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
MMFREE_HOST_DEVICE std::uint32_t f32_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

/// bf16 bit pattern -> f32 (exact).
MMFREE_HOST_DEVICE float bf16_to_f32(std::uint16_t h) { return bits_to_f32(std::uint32_t(h) << 16); }

/// f32 -> bf16 bit pattern, round to nearest even (NaN stays NaN).
MMFREE_HOST_DEVICE std::uint16_t f32_to_bf16(float f) {
  std::uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}

/// IEEE binary16 bit pattern -> f32 (exact, subnormals included).
MMFREE_HOST_DEVICE float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));  // inf / nan
  if (exp == 0) {
    if (man == 0) return bits_to_f32(sign);
    // subnormal: value = man * 2^-24
    float v = float(man) * (1.0f / 16777216.0f);
    return (sign != 0u) ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/// f32 -> IEEE binary16 bit pattern, round to nearest even, overflow to inf.
MMFREE_HOST_DEVICE std::uint16_t f32_to_f16(float f) {
  std::uint32_t u = f32_to_bits(f);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);  // nan
  if (u >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (u < 0x38800000u) {                                        // below the smallest normal half
    if (u < 0x33000000u) return sign;                           // rounds to zero
    const std::uint32_t e = u >> 23;
    const std::uint32_t m = (u & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // 14..24 (value = m * 2^(e-150), half ulp 2^-24)
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return std::uint16_t(sign | r);
  }
  std::uint32_t r = u + 0xfffu + ((u >> 13) & 1u) - 0x38000000u;
  return std::uint16_t(sign | (r >> 13));
}

/// Reads element `i` of a buffer of type `t` as f32. Works on unaligned data (safetensors
/// offsets carry no alignment promise).
inline float load_as_f32(const void* base, DType t, std::size_t i) {
  const auto* p = static_cast<const unsigned char*>(base);
  switch (t) {
    case DType::F32: {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case DType::F16: {
      std::uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return f16_to_f32(h);
    }
    case DType::BF16: {
      std::uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return bf16_to_f32(h);
    }
    case DType::F64: {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      return float(v);
    }
    case DType::I8: return float(reinterpret_cast<const std::int8_t*>(p)[i]);
    case DType::U8: return float(p[i]);
    case DType::I32: {
      std::int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      return float(v);
    }
    case DType::I64: {
      std::int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      return float(v);
    }
  }
  return 0.0f;
}

MMFREE_NAMESPACE_END
