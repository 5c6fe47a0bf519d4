#pragma once
// bfloat16 rounding: the reference semantics of cuda_math::bf16 (backend/cuda/backend.hpp), whose matrix
// products take both operands rounded to bfloat16 and accumulate in float32.
//
// bfloat16 is float32's upper half: the same sign and 8-bit exponent, 7 stored mantissa bits (8
// significant bits). So its range is float32's, and a product of two bfloat16 values (at most 16
// significant bits) is exact in float32 unless it overflows or falls below float32's normal range.

#include <bit>
#include <cstdint>

#include "config.hpp"

namespace plait {

/// The bfloat16 value nearest to `x`, as a float: round to nearest, ties to even, by the same bit
/// arithmetic for normal and denormal `x` (a carry out of the mantissa moves up the exponent).
/// Post: ±0 and ±inf are themselves; a value that rounds past the largest bfloat16 (0x1.fep127) is
/// ±inf; a NaN is a quiet NaN of the same sign. Usable in constant expressions and in device code.
PLAIT_HD constexpr float round_to_bf16(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u)  // NaN: keep it one when its payload is in the dropped half
    return std::bit_cast<float>((bits | 0x00400000u) & 0xffff0000u);
  const std::uint32_t lsb = (bits >> 16) & 1u;  // adding 0x7fff + lsb rounds the low half away: ties to even
  return std::bit_cast<float>((bits + 0x7fffu + lsb) & 0xffff0000u);
}

}  // namespace plait
