// SPDX-License-Identifier: MIT
// Numbers, math, quantisers and packings: the pieces every backend builds on.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <mmfree/mmfree.hpp>

#include "support/catch.hpp"
#include "support/random_checkpoint.hpp"

using namespace mmfree;

TEST_CASE("policies satisfy their concepts", "[core]") {
  STATIC_REQUIRE(WeightPacking<packing::I8>);
  STATIC_REQUIRE(WeightPacking<packing::I2>);
  STATIC_REQUIRE(WeightPacking<packing::TQ1>);
  STATIC_REQUIRE(ActivationPolicy<act::Int8>);
  STATIC_REQUIRE(ActivationPolicy<act::FakeQuant>);
  STATIC_REQUIRE(Backend<backend::Serial>);
  STATIC_REQUIRE(!WeightPacking<int>);
  STATIC_REQUIRE(!Backend<act::Int8>);
  STATIC_REQUIRE(PolicyBundle<Policy<packing::I2, act::Int8, backend::Serial>>);
}

TEST_CASE("half-precision conversions are exact and round to nearest even", "[core]") {
  // every bf16 / f16 bit pattern survives a round trip through f32 (NaNs stay NaN)
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float b = bf16_to_f32(std::uint16_t(h));
    const float f = f16_to_f32(std::uint16_t(h));
    if (std::isnan(b)) {
      CHECK(std::isnan(bf16_to_f32(f32_to_bf16(b))));
    } else {
      CHECK(f32_to_bf16(b) == h);
    }
    if (std::isnan(f)) {
      CHECK(std::isnan(f16_to_f32(f32_to_f16(f))));
    } else {
      CHECK(f32_to_f16(f) == h);
    }
  }
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f32_to_f16(65520.0f) == 0x7c00);                // rounds to inf
  CHECK(f32_to_f16(65519.0f) == 0x7bff);                // largest finite
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0);        // tie to even: zero
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 1);
  CHECK(f32_to_bf16(1.00390625f) == 0x3f80);  // 1 + 2^-8 is a tie: to even
  CHECK(f32_to_bf16(1.01171875f) == 0x3f82);  // 1 + 3*2^-8 is a tie: to even (up)
}

TEST_CASE("math::exp is within 2 ulp of std::exp", "[core]") {
  double worst = 0;
  for (float x = -103.0f; x < 88.7f; x += 0.0137f) {
    const double ref = std::exp(double(x));
    const float got = math::exp(x);
    if (ref < std::numeric_limits<float>::min()) continue;  // subnormal range: checked below
    const double ulp = std::nextafter(float(ref), INFINITY) - float(ref);
    worst = std::max(worst, std::fabs(double(got) - ref) / ulp);
  }
  CHECK(worst <= 2.0);
  CHECK(math::exp(0.0f) == 1.0f);
  CHECK(math::exp(-200.0f) == 0.0f);
  CHECK(std::isinf(math::exp(100.0f)));
  CHECK(std::isnan(math::exp(NAN)));
  CHECK(std::fabs(double(math::exp(-100.0f)) - std::exp(-100.0)) <= std::ldexp(1.0, -149));  // subnormal result
  CHECK(math::sigmoid(-1000.0f) == 0.0f);
  CHECK(math::sigmoid(1000.0f) == 1.0f);
  CHECK(math::silu(0.0f) == 0.0f);
}

TEST_CASE("rounding modes match upstream's quantisers", "[core][quant]") {
  // activations: half away from zero
  CHECK(math::round_half_away(0.5f) == 1.0f);
  CHECK(math::round_half_away(-0.5f) == -1.0f);
  CHECK(math::round_half_away(2.5f) == 3.0f);
  CHECK(math::round_half_away(0.49999997f) == 0.0f);  // a + 0.5 would round up here
  CHECK(math::round_half_away(-126.5f) == -127.0f);
  CHECK(math::round_half_away(16777216.0f) == 16777216.0f);
  // weights: half to even (torch.round)
  CHECK(math::round_half_even(0.5f) == 0.0f);
  CHECK(math::round_half_even(1.5f) == 2.0f);
  CHECK(math::round_half_even(-0.5f) == 0.0f);
  CHECK(math::round_half_even(-1.5f) == -2.0f);
  CHECK(math::round_half_even(0.49999997f) == 0.0f);
  CHECK(math::round_half_even(0.50000006f) == 1.0f);
}

TEST_CASE("activation quantiser: scale, ties, clamping, all-zero rows", "[core][quant]") {
  std::vector<float> w(4, 1.0f);
  std::int8_t q[4];
  SECTION("all-zero row gives zero codes and the 1e-5 floor") {
    const float x[4] = {0, 0, 0, 0};
    const float s = ref::norm_quantize_row(x, w.data(), 4, 1e-6f, q);
    CHECK(s == 127.0f / 1e-5f);
    for (auto v : q) CHECK(v == 0);
  }
  SECTION("absmax maps to +-127") {
    const float x[4] = {1.0f, -2.0f, 0.5f, 0.25f};
    const float s = ref::norm_quantize_row(x, w.data(), 4, 1e-6f, q);
    CHECK(q[1] == -127);
    const float r = ref::rms_inv(x, 4, 1e-6f);
    CHECK(s == 127.0f / (2.0f * r));
    CHECK(q[0] == ref::quantize_value(x[0] * r, s));
  }
  SECTION("ties round away from zero and values clamp to [-128, 127]") {
    CHECK(ref::quantize_value(0.5f, 1.0f) == 1);
    CHECK(ref::quantize_value(-0.5f, 1.0f) == -1);
    CHECK(ref::quantize_value(1.5f, 1.0f) == 2);
    CHECK(ref::quantize_value(300.0f, 1.0f) == 127);
    CHECK(ref::quantize_value(-300.0f, 1.0f) == -128);
    CHECK(ref::quantize_value(-127.5f, 1.0f) == -128);
  }
  SECTION("norm weight scales the codes") {
    const float x[4] = {1, 1, 1, 1};
    const float wn[4] = {1, -1, 0.5f, 0};
    ref::norm_quantize_row(x, wn, 4, 1e-6f, q);
    CHECK(q[0] == 127);
    CHECK(q[1] == -127);
    CHECK(q[2] == 64);  // 63.5 rounds away
    CHECK(q[3] == 0);
  }
}

TEST_CASE("weight ternariser: absmean scale, half-to-even, clamp, zero tensor", "[core][quant]") {
  CHECK(ref::weight_scale_from_abs_sum(0.0, 100.0) == 1.0f / 1e-5f);
  const float s = ref::weight_scale_from_abs_sum(2.0, 4.0);  // mean |W| = 0.5
  CHECK(s == 2.0f);
  CHECK(ref::ternarize_value(0.25f, s) == 0);   // 0.5 -> 0 (to even)
  CHECK(ref::ternarize_value(0.75f, s) == 2 - 1);  // 1.5 -> 2 -> clamp 1
  CHECK(ref::ternarize_value(-0.75f, s) == -1);
  CHECK(ref::ternarize_value(10.0f, s) == 1);
  CHECK(ref::ternarize_value(-0.2f, s) == 0);
  CHECK(ref::ternarize_value(0.0f, s) == 0);
}

template <class P>
void check_round_trip(index_t K, std::uint64_t seed) {
  mmfree_test::Rng rng(seed);
  std::vector<std::int8_t> t(static_cast<std::size_t>(K));
  for (auto& v : t) v = std::int8_t(int(rng.next() % 3) - 1);
  std::vector<std::uint8_t> packed(std::size_t(packed_row_bytes<P>(K)), 0xAB);
  P::pack_row(t.data(), K, packed.data());
  for (index_t k = 0; k < K; ++k) REQUIRE(P::decode(packed.data(), k) == t[std::size_t(k)]);
  for (index_t k = K; k < padded_cols<P>(K); ++k) REQUIRE(P::decode(packed.data(), k) == 0);  // tail is zero
}

TEMPLATE_TEST_CASE("packings round-trip every code, tails decode to zero", "[core][packing]", packing::I8,
                   packing::I2, packing::TQ1) {
  for (index_t K : {1, 5, 31, 32, 33, 127, 128, 129, 159, 160, 161, 257, 1000, 2816})
    check_round_trip<TestType>(K, std::uint64_t(K));
  STATIC_REQUIRE(TestType::block_bytes == 32);
}

TEST_CASE("packing sizes", "[core][packing]") {
  CHECK(packed_row_bytes<packing::I2>(1024) == 256);   // 2 bits a weight
  CHECK(packed_row_bytes<packing::TQ1>(2560) == 512);  // 1.6 bits a weight
  CHECK(packed_row_bytes<packing::TQ1>(1) == 32);
  CHECK(padded_cols<packing::I2>(129) == 256);
}

TEST_CASE("TQ1 extraction is exact for all 243 byte values", "[core][packing]") {
  for (unsigned v = 0; v < 243; ++v) {
    const unsigned byte = (v * 256u + 242u) / 243u;
    REQUIRE(byte < 256u);
    unsigned rest = v;
    unsigned digits[5];
    for (int s = 4; s >= 0; --s) {
      digits[s] = rest % 3;
      rest /= 3;
    }
    for (int s = 0; s < 5; ++s) {
      const std::uint8_t m = std::uint8_t(byte * packing::TQ1::pow3(s));
      REQUIRE(((unsigned(m) * 3u) >> 8) == digits[s]);
    }
  }
}

TEST_CASE("ModelConfig: intermediate_size rule and parameter counts", "[core]") {
  CHECK(ModelConfig::default_intermediate(1024, 4) == 2816);
  CHECK(ModelConfig::default_intermediate(2048, 4) == 5632);
  CHECK(ModelConfig::default_intermediate(2560, 4) == 6912);
  CHECK(ModelConfig::default_intermediate(64, 4) == 256);
  ModelConfig c;
  c.vocab_size = 32000;
  c.hidden_size = 1024;
  c.num_layers = 24;
  c.intermediate_size = 2816;
  CHECK(c.total_params() == 374108160);  // MMfreeLM-370M: 374.1 M
  CHECK_NOTHROW(c.validate());
  c.num_heads = 3;
  CHECK_THROWS_AS(c.validate(), Error);
}
