#pragma once
// Optimizer: what train_step takes to update the parameters (sgd, adam, adamw).
//
// An optimizer is a small value (its hyper-parameters) with
//   - `state_per_param()`: floats of state it keeps per parameter (momentum, moments), zero before step 1;
//   - `step(ctx, params, grads, state, n, t)`: updates params[0..n) from grads on the device of `ctx`,
//     for optimizer step t (a step_count: 1 on the first step).
// It is called on every device for the parameters that device updates, with the same values
// everywhere, so replicas stay equal.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../backend/host/backend.hpp"
#include "../core/config.hpp"
#include "../core/step_count.hpp"

namespace plait {

/// x, or 0 where |x| is below the smallest normal value of T. Optimizer state that decays under
/// zero gradients (Adam's moments, SGD's momentum, for the weights of an input that stays 0 for a
/// while, such as a border pixel) reaches 0 this way instead of lingering as subnormal numbers:
/// those change no weight (a moment below 1.2e-38 moves it by less than 1e-30 of lr), but on CPUs
/// without fast subnormal arithmetic every operation on them takes a microcode assist, and a step
/// over state that is 5-10% subnormal (Fashion-MNIST's first layer from the second epoch on) gets
/// slower. The test is on the exponent's bits, not a float comparison: under GCC's default
/// -ftrapping-math a comparison would keep the optimizer's loops from vectorising.
template <class T>
PLAIT_HD inline T flush_subnormal(T x) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "flush_subnormal takes float or double");
  using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr bits exponent = sizeof(T) == 4 ? bits(0x7f800000u) : bits(0x7ff0000000000000ull);
  bits u;
  std::memcpy(&u, &x, sizeof u);             // the exponent field: all zeros for 0 and the subnormals only
  u &= bits(0) - bits((u & exponent) != 0);  // all ones where it is not, else 0: a mask, no branch
  std::memcpy(&x, &u, sizeof u);
  return x;
}

template <class O>
concept Optimizer = requires(const O& o, const host_context<sequential>& ctx, float* p, const float* g, std::size_t n) {
  { o.state_per_param() } -> std::convertible_to<std::size_t>;
  o.step(ctx, p, g, p, n, step_count{1});
};

}  // namespace plait
