#pragma once
// softmax_exp(x): e^x for the arguments a softmax exponentiates, x = z - max(z) <= 0, written so that a
// loop over a row compiles to vector instructions on the host (std::exp is a call per element there:
// it was most of cross_entropy's time on a 10-class batch). Float on the host only; doubles and CUDA
// devices use std::exp.
//
// e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; e^r by the degree-7 Taylor-like
// polynomial of Cephes' expf (relative error below 2e-7 on that range, about 1-2 ulp), 2^n by
// writing n into the exponent bits. x below -87.3 (where e^x leaves float's normal range) gives 0, a
// NaN gives NaN (a diverged logit must show in the loss), -inf gives 0. x > 0 is outside its
// contract (a softmax never passes one).

#include <bit>
#include <cmath>
#include <cstdint>

#include "../../core/config.hpp"

namespace plait::detail {

PLAIT_HD inline float softmax_exp(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  // The range tests are on the bits (|x| against 87.34): a float comparison would keep the loop
  // from vectorising under GCC's default -ftrapping-math.
  constexpr std::uint32_t limit = 0x42aeac50u;  // 87.33654f = -ln(2^-126): below -limit 2^n leaves the normals
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x), magnitude = u & 0x7fffffffu;
  // x < -87.33654, -inf or NaN (x <= 0): all ones; selections by masks, which vectorise as branches do not
  const std::uint32_t below = magnitude > limit ? 0xffffffffu : 0u;
  const float v = std::bit_cast<float>((below & (limit | 0x80000000u)) | (~below & u));
  const int n = int(v * 1.44269504088896341f - 0.5f);  // round(v / ln 2), v <= 0: truncation of v/ln2 - 0.5
  const float fn = float(n);
  const float r = (v - fn * 0.693359375f) - fn * -2.12194440e-4f;  // ln 2 in two parts: r exact enough
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float e = p * std::bit_cast<float>(std::uint32_t(n + 127) << 23);  // e^r 2^n, n in [-126, 0]
  const std::uint32_t nan = magnitude > 0x7f800000u ? u : 0u;              // below: 0, or the NaN itself
  return std::bit_cast<float>((below & nan) | (~below & std::bit_cast<std::uint32_t>(e)));
#endif
}

}  // namespace plait::detail
