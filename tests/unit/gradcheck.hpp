#pragma once
// Finite-difference checks of a bound layer's backward, in double precision: the loss is
// L = sum(w * y) for fixed random weights w, so dL/dy = w, and every analytic gradient
// (parameters and input) is compared with the central difference (L(+h) - L(-h)) / 2h.

#include <doctest/doctest.h>

#include <cmath>
#include <plait/plait.hpp>
#include <type_traits>
#include <vector>

namespace plait::test {

using host_contexts = std::tuple<host_context<sequential>, host_context<openmp>>;

struct gradcheck_result {
  double max_param_error = 0;
  double max_input_error = 0;
};

inline std::vector<double> random_vector(std::size_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
  splitmix64 rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = lo + (hi - lo) * rng.uniform01();
  return v;
}

/// The layer's non-trainable state, initialised as the runtime does.
template <class B>
std::vector<double> initial_state() {
  std::vector<double> s(state_count_of<B> + 1, 0.0);
  if constexpr (requires(double* d) { B::init_state(d); }) B::init_state(s.data());
  return s;
}

template <class B, class Ctx>
double weighted_output(const Ctx& ctx, const std::vector<double>& p, const std::vector<double>& x,
                       const std::vector<double>& w, std::size_t batch) {
  std::vector<double> y(batch * B::out_shape::size), saved(batch * B::saved_count + 1);
  auto state = initial_state<B>();
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch, true, state.data(), 7, 3, 0});
  double l = 0;
  for (std::size_t i = 0; i < y.size(); ++i) l += w[i] * y[i];
  return l;
}

/// Largest |analytic - numeric| / max(1, |numeric|) over every parameter and input element, in
/// training mode, with seed 7, step 3 and the batch's first sample at global index 0.
template <class B, class Ctx>
gradcheck_result gradcheck(const Ctx& ctx, std::size_t batch, std::uint64_t seed = 1) {
  constexpr std::size_t in = B::in_shape::size, out = B::out_shape::size;
  auto p = random_vector(B::param_count, seed);
  auto x = random_vector(batch * in, seed + 1);
  const auto w = random_vector(batch * out, seed + 2);
  std::vector<double> y(batch * out), saved(batch * B::saved_count + 1), dy = w, dx(batch * in, 0.0),
                                                                         dp(B::param_count, 0.0);
  auto state = initial_state<B>();
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch, true, state.data(), 7, 3, 0});
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), dy.data(), dx.data(), dp.data(),
                                         batch, false, state.data(), 7, 3, 0});
  const double h = 1e-6;
  auto numeric = [&](std::vector<double>& v, std::size_t i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = weighted_output<B>(ctx, p, x, w, batch);
    v[i] = keep - h;
    const double down = weighted_output<B>(ctx, p, x, w, batch);
    v[i] = keep;
    return (up - down) / (2 * h);
  };
  gradcheck_result r;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double n = numeric(p, i);
    r.max_param_error = std::max(r.max_param_error, std::abs(dp[i] - n) / std::max(1.0, std::abs(n)));
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double n = numeric(x, i);
    r.max_input_error = std::max(r.max_input_error, std::abs(dx[i] - n) / std::max(1.0, std::abs(n)));
  }
  return r;
}

namespace detail {
template <class L>
struct only_layer {
  using type = L;
};
template <class L>
struct only_layer<chain<no_input, L>> {
  using type = L;
};
}  // namespace detail
/// The bound layer of a layer value, or of a one-layer sub-graph (`residual(f) >> relu` fused), on input In.
template <auto L, class In>
using bound_of = typename detail::only_layer<std::remove_cv_t<decltype(L)>>::type::template bound<In>;

}  // namespace plait::test
