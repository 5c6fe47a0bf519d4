#pragma once
// Optimizer: what train_step takes to update the parameters (sgd, adam, adamw).
//
// An optimizer is a small value (its hyper-parameters) with
//   - `state_per_param()`: floats of state it keeps per parameter (momentum, moments), zero before step 1;
//   - `step(ctx, params, grads, state, n, t)`: updates params[0..n) from grads on the device of `ctx`,
//     for optimizer step t (a step_count: 1 on the first step).
// It is called on every device for the parameters that device updates, with the same values
// everywhere, so replicas stay equal. An optimizer may also have
//   - `check(call)`: throws plait::error where its settings would train silently wrong (a negative or
//     NaN rate, a beta of 1); every step calls it first, before anything changes (sgd, adam, adamw).

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "../backend/host/backend.hpp"
#include "../core/config.hpp"
#include "../core/error.hpp"
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

/// Refuses, for `call` (train_step, ...), settings of `o` that would train silently wrong, where the
/// optimizer has a check(call) member; nothing else is done and nothing allocated unless it fails.
template <class O>
void check_optimizer(const O& o, const char* call) {
  if constexpr (requires { o.check(call); }) o.check(call);
}

namespace detail {
/// Fails unless `ok`: optimizer `opt`'s setting `name` = v, which must be `range` because `why`; `also`
/// ends the fix.
inline void check_setting(bool ok, const char* call, const char* opt, const char* name, float v, const char* range,
                          const char* why, const char* also = "") {
  if (ok) return;
  char value[32];
  std::snprintf(value, sizeof value, "%g", double(v));  // -1e-08, nan: not std::to_string's -0.000000
  fail(cat(call, " is given ", opt, " with ", name, " = ", value), cat(name, " must be ", range, ": ", why),
       cat("pass ", opt, "{.", name, " = ...} ", range, also));
}
/// A learning rate: finite and at least 0.
inline void check_rate(float lr, const char* call, const char* opt) {
  check_setting(std::isfinite(lr) && lr >= 0.0f, call, opt, "lr", lr, "finite and at least 0",
                "a negative rate climbs the loss, and NaN or inf makes every parameter NaN",
                " (or fix the schedule that sets it)");
}
/// L2 or decoupled weight decay: finite and at least 0.
inline void check_decay(float wd, const char* call, const char* opt) {
  check_setting(std::isfinite(wd) && wd >= 0.0f, call, opt, "weight_decay", wd, "finite and at least 0",
                "a negative decay pushes the weights away from 0 and grows them without bound");
}
}  // namespace detail

}  // namespace plait
