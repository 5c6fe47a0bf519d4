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

#include "../backend/host/backend.hpp"
#include "../core/step_count.hpp"

namespace plait {

template <class O>
concept Optimizer = requires(const O& o, const host_context<sequential>& ctx, float* p, const float* g, std::size_t n) {
  { o.state_per_param() } -> std::convertible_to<std::size_t>;
  o.step(ctx, p, g, p, n, step_count{1});
};

}  // namespace plait
