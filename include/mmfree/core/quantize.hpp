// SPDX-License-Identifier: MIT
// The reference quantisers and RMSNorm, one row at a time (host and device). Every backend calls
// these or reproduces them bit for bit; model-spec.md "Building blocks" is the source.
#pragma once

#include <math.h>

#include <cstdint>

#include "../macros.hpp"
#include "math.hpp"
#include "types.hpp"

MMFREE_NAMESPACE_BEGIN

/// Epsilon of the RMSNorm inside every BitLinear: upstream's fused kernel uses 1e-6 whatever the
/// module declares (1e-8), see model-spec.md.
inline constexpr float bitlinear_norm_eps = 1e-6f;

namespace ref {

/// The tail of rms_inv(): 1 / sqrt(float(sum_sq / n) + eps). Parallel backends reduce the sum
/// of squares themselves and finish with this, so the float steps are the same operations.
MMFREE_HOST_DEVICE float rms_inv_from_sum(double sum_sq, index_t n, float eps) {
  const float var = float(sum_sq / double(n));
  return 1.0f / ::sqrtf(var + eps);
}

/// 1 / sqrt(mean(x^2) + eps). The sum of squares is accumulated in double (each square is exact
/// there), so the f32 result does not depend on summation order in practice: SIMD and GPU
/// reductions reproduce it.
MMFREE_HOST_DEVICE float rms_inv(const float* x, index_t n, float eps) {
  double s = 0.0;
  for (index_t k = 0; k < n; ++k) s += double(x[k]) * double(x[k]);
  return rms_inv_from_sum(s, n, eps);
}

/// y = x * rms_inv(x) * w  (RMSNorm over one row of n values).
MMFREE_HOST_DEVICE void rmsnorm_row(const float* x, const float* w, index_t n, float eps, float* y) {
  const float r = rms_inv(x, n, eps);
  for (index_t k = 0; k < n; ++k) y[k] = x[k] * r * w[k];
}

/// Activation scale s_a = 127 / max(absmax, 1e-5) from the row's absolute maximum.
MMFREE_HOST_DEVICE float act_scale_from_absmax(float absmax) { return 127.0f / (absmax > 1e-5f ? absmax : 1e-5f); }

/// Quantises one normalised value: clamp(round_half_away(y * s_a), -128, 127).
MMFREE_HOST_DEVICE std::int8_t quantize_value(float y, float s_a) {
  return std::int8_t(math::clampf(math::round_half_away(y * s_a), -128.0f, 127.0f));
}

/// \brief BitLinear's input stage: RMSNorm (weight `w`, eps) then per-row absmax int8.
///
/// Writes n codes to `q` and returns the activation scale s_a (the dequantised input is q / s_a).
/// The normalised value is recomputed in the second pass instead of stored: same bits, no scratch.
MMFREE_HOST_DEVICE float norm_quantize_row(const float* x, const float* w, index_t n, float eps, std::int8_t* q) {
  const float r = rms_inv(x, n, eps);
  float amax = 0.0f;
  for (index_t k = 0; k < n; ++k) {
    const float y = x[k] * r * w[k];
    const float a = y < 0.0f ? -y : y;
    amax = a > amax ? a : amax;
  }
  const float s = act_scale_from_absmax(amax);
  for (index_t k = 0; k < n; ++k) q[k] = quantize_value(x[k] * r * w[k], s);
  return s;
}

/// Integer accumulator -> output value: acc / (s_a * w_scale), i.e. acc * beta / s_a.
MMFREE_HOST_DEVICE float dequantize(std::int32_t acc, float s_a, float w_scale) {
  return float(acc) / (s_a * w_scale);
}

/// Ternary code of one latent weight: clamp(round_half_even(W * w_scale), -1, 1).
MMFREE_HOST_DEVICE std::int8_t ternarize_value(float w, float w_scale) {
  return std::int8_t(math::clampf(math::round_half_even(w * w_scale), -1.0f, 1.0f));
}

/// w_scale = 1 / max(mean|W|, 1e-5) from the sum of |W| over `count` weights (sum kept in double).
inline float weight_scale_from_abs_sum(double abs_sum, double count) {
  const float mean = float(abs_sum / count);
  return 1.0f / (mean > 1e-5f ? mean : 1e-5f);
}

}  // namespace ref
MMFREE_NAMESPACE_END
