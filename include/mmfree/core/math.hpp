// SPDX-License-Identifier: MIT
// Scalar math used by every backend (host and device). Written with explicit fmaf and no other
// multiply-add pairs, so the result is the same bit pattern whether or not the compiler contracts
// a*b+c into FMAs, on any CPU and on GPUs: backends agree to the last bit.
#pragma once

#include <math.h>  // ::fmaf, ::floorf, ::sqrtf: usable in CUDA/HIP device code too

#include <cstdint>

#include "../macros.hpp"
#include "numeric.hpp"

MMFREE_NAMESPACE_BEGIN
namespace math {

/// exp(x) in f32, within 2 ulp of the exact value; identical on every platform.
MMFREE_HOST_DEVICE float exp(float x) {
  if (x != x) return x;                    // nan
  if (x > 88.72283935546875f) return bits_to_f32(0x7f800000u);  // +inf
  if (x < -103.278929903f) return 0.0f;
  // x = n*ln2 + r, |r| <= ln2/2; ln2 split in a high part exact in f32 and a low part.
  const float n = ::floorf(::fmaf(x, 1.44269502162933349609375f, 0.5f));
  float r = ::fmaf(-n, 0.693145751953125f, x);
  r = ::fmaf(-n, 1.428606765330187045e-06f, r);
  // Taylor/minimax polynomial of degree 7 on [-0.35, 0.35]
  float p = 1.9841269841e-4f;
  p = ::fmaf(p, r, 1.3888888889e-3f);
  p = ::fmaf(p, r, 8.3333333333e-3f);
  p = ::fmaf(p, r, 4.1666666667e-2f);
  p = ::fmaf(p, r, 1.6666666667e-1f);
  p = ::fmaf(p, r, 0.5f);
  p = ::fmaf(p, r, 1.0f);
  p = ::fmaf(p, r, 1.0f);
  // scale by 2^n in two steps so that n down to -150 (subnormal results) works
  int ni = int(n);
  int n1 = ni / 2;
  int n2 = ni - n1;
  const float s1 = bits_to_f32(std::uint32_t(n1 + 127) << 23);
  const float s2 = bits_to_f32(std::uint32_t(n2 + 127) << 23);
  return p * s1 * s2;
}

/// Logistic sigmoid 1 / (1 + e^-x).
MMFREE_HOST_DEVICE float sigmoid(float x) { return 1.0f / (1.0f + math::exp(-x)); }

/// SiLU (swish): x * sigmoid(x).
MMFREE_HOST_DEVICE float silu(float x) { return x * sigmoid(x); }

/// Round half away from zero (what upstream's activation quantiser does; std::round semantics).
MMFREE_HOST_DEVICE float round_half_away(float x) {
  const float a = x < 0.0f ? -x : x;
  if (a >= 8388608.0f) return x;  // already an integer
  float r = ::floorf(a);
  if (a - r >= 0.5f) r += 1.0f;  // a - floor(a) is exact, unlike a + 0.5
  return x < 0.0f ? -r : r;
}

/// Round half to even (torch.round, used by the weight ternariser).
MMFREE_HOST_DEVICE float round_half_even(float x) {
  const float a = x < 0.0f ? -x : x;
  if (a >= 8388608.0f) return x;
  float r = ::floorf(a);
  const float diff = a - r;
  if (diff > 0.5f || (diff == 0.5f && ::fmodf(r, 2.0f) != 0.0f)) r += 1.0f;
  return x < 0.0f ? -r : r;
}

MMFREE_HOST_DEVICE float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

}  // namespace math
MMFREE_NAMESPACE_END
