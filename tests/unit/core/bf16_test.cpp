// core/bf16.hpp: round_to_bf16, the reference semantics of cuda_math::bf16.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <plait/core/bf16.hpp>
#include <plait/core/random.hpp>

using namespace plait;

namespace {

constexpr float ulp_bf16_at_1 = 0x1p-7f;  // the spacing of bfloat16 values in [1, 2)
constexpr float ulp_f32_at_1 = 0x1p-23f;  // the spacing of float values in [1, 2)

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }
float from_bits(std::uint32_t b) { return std::bit_cast<float>(b); }

// An independent reference: the two bfloat16 values around finite x (its upper half, and the next
// one away from zero), the nearer one in double arithmetic, the one with an even last bit on a tie.
float nearest_bf16(float x) {
  const std::uint32_t low = bits(x) & 0xffff0000u, high = low + 0x10000u;  // same sign, |low| <= |x| < |high|
  const double d_low = std::abs(double(x) - double(from_bits(low)));
  const double d_high =
      std::abs(double(from_bits(high)) - double(x));  // from_bits(high) may be inf: then x is nearer low
  if (d_low < d_high) return from_bits(low);
  if (d_high < d_low) return from_bits(high);
  return from_bits((low >> 16) & 1u ? high : low);
}

}  // namespace

// Compiling is the test: the rounding is usable in constant expressions.
static_assert(round_to_bf16(1.0f) == 1.0f);
static_assert(round_to_bf16(1.0f + 0x1p-8f) == 1.0f);                             // a tie, to the even 1
static_assert(round_to_bf16(1.0f + 3 * 0x1p-8f) == 1.0f + 2 * ulp_bf16_at_1);     // a tie, to the even 1 + 2^-6
static_assert(round_to_bf16(3.4e38f) == std::numeric_limits<float>::infinity());  // past 0x1.ffp127

TEST_CASE("values with at most 8 significant bits are their own bfloat16") {
  for (float x : {0.0f, 1.0f, -1.0f, 2.5f, -0.15625f, 1.0f + ulp_bf16_at_1, 255.0f, -65280.0f, 0x1.fep127f,
                  -0x1.fep127f, 0x1p-126f, 0x1.fcp-120f, 0x1p-133f, -0x1p-133f, 0x1.fcp-127f}) {
    CAPTURE(x);
    CHECK(round_to_bf16(x) == x);
    CHECK(bits(round_to_bf16(x)) == bits(x));
  }
  CHECK(std::signbit(round_to_bf16(-0.0f)));
  CHECK(round_to_bf16(-0.0f) == 0.0f);
  CHECK(round_to_bf16(0.1f) == 0x1.9ap-4f);  // 0.1f = 0x1.99999ap-4: the dropped bits are above half: up, not 0x1.98p-4
}

TEST_CASE("ties round to even, in both directions and for both signs") {
  const float tie_down = 1.0f + 0.5f * ulp_bf16_at_1;  // between 1 (even) and 1 + 2^-7 (odd)
  const float tie_up = 1.0f + 1.5f * ulp_bf16_at_1;    // between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
  CHECK(round_to_bf16(tie_down) == 1.0f);
  CHECK(round_to_bf16(tie_up) == 1.0f + 2 * ulp_bf16_at_1);
  CHECK(round_to_bf16(-tie_down) == -1.0f);
  CHECK(round_to_bf16(-tie_up) == -(1.0f + 2 * ulp_bf16_at_1));
  CHECK(round_to_bf16(0x1.ffp0f) == 2.0f);  // the tie's carry runs through the mantissa into the exponent
  CHECK(round_to_bf16(0x1.ffp-1f) == 1.0f);
}

TEST_CASE("one float ulp either side of a tie goes to the nearer bfloat16") {
  const float tie_down = 1.0f + 0.5f * ulp_bf16_at_1, tie_up = 1.0f + 1.5f * ulp_bf16_at_1;
  CHECK(round_to_bf16(tie_down - ulp_f32_at_1) == 1.0f);
  CHECK(round_to_bf16(tie_down + ulp_f32_at_1) == 1.0f + ulp_bf16_at_1);
  CHECK(round_to_bf16(tie_up - ulp_f32_at_1) == 1.0f + ulp_bf16_at_1);
  CHECK(round_to_bf16(tie_up + ulp_f32_at_1) == 1.0f + 2 * ulp_bf16_at_1);
  CHECK(round_to_bf16(-(tie_down + ulp_f32_at_1)) == -(1.0f + ulp_bf16_at_1));
  CHECK(round_to_bf16(-(tie_up - ulp_f32_at_1)) == -(1.0f + ulp_bf16_at_1));
}

TEST_CASE("NaN stays a quiet NaN of its sign; infinities stay; past the largest bfloat16 is infinity") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(round_to_bf16(inf) == inf);
  CHECK(round_to_bf16(-inf) == -inf);
  // NaNs whose payload lies only in the dropped half: truncating them would give infinity.
  for (std::uint32_t nan : {0x7fc00000u, 0x7f800001u, 0x7f80ffffu, 0xff800001u, 0x7fffffffu}) {
    CAPTURE(nan);
    const float r = round_to_bf16(from_bits(nan));
    CHECK(std::isnan(r));
    CHECK((bits(r) & 0x00400000u) != 0);  // quiet
    CHECK((bits(r) & 0x0000ffffu) == 0);  // a bfloat16
    CHECK(std::signbit(r) == bool(nan >> 31));
  }
  const float largest = 0x1.fep127f;  // the largest finite bfloat16
  CHECK(round_to_bf16(std::numeric_limits<float>::max()) == inf);
  CHECK(round_to_bf16(-std::numeric_limits<float>::max()) == -inf);
  CHECK(round_to_bf16(0x1.ffp127f) == inf);  // the tie above the largest: its even neighbour is 2^128
  CHECK(round_to_bf16(std::nextafter(0x1.ffp127f, 0.0f)) == largest);
}

TEST_CASE("denormals round by the same rule; the largest carries into the smallest normal") {
  const float smallest = 0x1p-133f;  // the smallest bfloat16 denormal: 2^-126 * 2^-7
  CHECK(round_to_bf16(std::numeric_limits<float>::denorm_min()) == 0.0f);
  CHECK(std::signbit(round_to_bf16(-std::numeric_limits<float>::denorm_min())));
  CHECK(round_to_bf16(0.5f * smallest) == 0.0f);                  // a tie, to the even 0
  CHECK(round_to_bf16(0.5f * smallest + 0x1p-149f) == smallest);  // just above the tie
  CHECK(round_to_bf16(1.5f * smallest) == 2 * smallest);          // a tie, to the even 2^-132
  CHECK(round_to_bf16(-1.5f * smallest) == -2 * smallest);
  CHECK(round_to_bf16(from_bits(0x007fffffu)) == 0x1p-126f);               // the largest float denormal
  CHECK(round_to_bf16(from_bits(0x007f7fffu)) == from_bits(0x007f0000u));  // the largest bfloat16 denormal
}

TEST_CASE("random finite floats round to the nearer of their two bfloat16 neighbours, ties to even") {
  splitmix64 rng(7);
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    const float x = from_bits(std::uint32_t(rng.next()));
    if (!std::isfinite(x)) continue;
    const float r = round_to_bf16(x);
    if (bits(r) != bits(nearest_bf16(x))) {
      CAPTURE(x);
      CHECK(bits(r) == bits(nearest_bf16(x)));
    }
    CHECK((bits(r) & 0xffffu) == 0);
    CHECK(bits(round_to_bf16(r)) == bits(r));  // idempotent
    ++checked;
  }
  CHECK(checked > 190000);
}

TEST_CASE("a product of two bfloat16 values is exact in float: the property the bf16 mode relies on") {
  // Two 8-bit significands multiply to at most 16 bits, within float's 24: a tensor core's float
  // accumulation then adds exactly the products of the rounded operands, and a host reference may do
  // the same in double.
  splitmix64 rng(11);
  int inexact_unrounded = 0;
  for (int i = 0; i < 100000; ++i) {
    const float a = rng.uniform(-1e3f, 1e3f) * std::ldexp(1.0f, int(rng.below(40)) - 20);
    const float b = rng.uniform(-1e3f, 1e3f) * std::ldexp(1.0f, int(rng.below(40)) - 20);
    const float ra = round_to_bf16(a), rb = round_to_bf16(b);
    CHECK(double(ra * rb) == double(ra) * double(rb));
    inexact_unrounded += double(a * b) != double(a) * double(b);
  }
  CHECK(inexact_unrounded > 90000);  // the same is false of float operands: the test can tell them apart
}
