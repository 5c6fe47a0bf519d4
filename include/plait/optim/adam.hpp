#pragma once
// Adam (torch.optim.Adam: L2 weight decay added to the gradient) and AdamW (torch.optim.AdamW:
// decoupled weight decay, p *= 1 - lr * wd), with bias correction:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// m and v below the smallest normal float are stored as 0 (flush_subnormal, optimizer.hpp).

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../core/step_count.hpp"
#include "../kernels/elementwise.hpp"
#include "optimizer.hpp"

namespace plait {

namespace detail {
/// Adam's bias corrections for step t: the step size lr / (1 - b1^t) and 1 / sqrt(1 - b2^t), in double.
template <class T>
PLAIT_HD inline void adam_corrections(double t, float lr, float b1, float b2, T& step, T& inv_sqrt_c2) {
  const double c1 = 1.0 - std::pow(double(b1), t);
  const double c2 = 1.0 - std::pow(double(b2), t);
  step = static_cast<T>(lr / c1);
  inv_sqrt_c2 = static_cast<T>(1.0 / std::sqrt(c2));
}

template <class T>
struct adam_update {
  T *p, *m, *v;  // [n] each
  const T* g;    // [n]
  T beta1, beta2, epsilon, wd, shrink;
  PLAIT_HD void operator()(std::size_t b, std::size_t e, T step, T inv_sqrt_c2) const {
    T* PLAIT_RESTRICT pp = p;
    T* PLAIT_RESTRICT mm = m;
    T* PLAIT_RESTRICT vv = v;
    const T* PLAIT_RESTRICT gg = g;
    const T b1 = beta1, b2 = beta2, eps = epsilon, l2 = wd, keep = shrink;  // not re-read after each store
    for (std::size_t i = b; i < e; ++i) {
      const T gi = gg[i] + l2 * pp[i];
      const T mi = flush_subnormal(b1 * mm[i] + (T{1} - b1) * gi);  // optimizer.hpp: no subnormal state
      const T vi = flush_subnormal(b2 * vv[i] + (T{1} - b2) * gi * gi);
      mm[i] = mi;
      vv[i] = vi;
      pp[i] = pp[i] * keep - step * mi / (std::sqrt(vi) * inv_sqrt_c2 + eps);
    }
  }
};

// t.at set (CUDA): the corrections are computed on the device from the step count in its memory, once
// (into t.scalars), so that a step replayed from a CUDA graph uses the current t.
template <class Ctx, class T>
void adam_step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, step_count t, float lr, float b1, float b2,
               float eps, float l2, float decoupled) {
  const adam_update<T> update{p, state, state + n, g, b1, b2, eps, l2, T{1} - static_cast<T>(lr) * decoupled};
  if (const std::uint64_t* at = t.at) {
    double* scalars = t.scalars;  // [2] @ the device: step size, 1 / sqrt(1 - b2^t)
    for_blocks(ctx, 1, 1, [=] PLAIT_HD(std::size_t, std::size_t) {
      T step{}, inv_sqrt_c2{};
      adam_corrections(double(*at), lr, b1, b2, step, inv_sqrt_c2);
      scalars[0] = double(step), scalars[1] = double(inv_sqrt_c2);
    });
    for_blocks(ctx, n, 8192,
               [=] PLAIT_HD(std::size_t b, std::size_t e) { update(b, e, T(scalars[0]), T(scalars[1])); });
    return;
  }
  T step{}, inv_sqrt_c2{};
  adam_corrections(double(t.value), lr, b1, b2, step, inv_sqrt_c2);
  for_blocks(ctx, n, 8192, [=] PLAIT_HD(std::size_t b, std::size_t e) { update(b, e, step, inv_sqrt_c2); });
}

/// adam's and adamw's settings (their check(call)).
template <class A>
void check_adam(const A& a, const char* call) {
  check_rate(a.lr, call, A::name);
  const char* beta_why =
      "the moments keep that fraction of themselves each step; at 1 the bias correction divides by 0";
  check_setting(a.beta1 >= 0.0f && a.beta1 < 1.0f, call, A::name, "beta1", a.beta1, "in [0, 1)", beta_why);
  check_setting(a.beta2 >= 0.0f && a.beta2 < 1.0f, call, A::name, "beta2", a.beta2, "in [0, 1)", beta_why);
  check_setting(std::isfinite(a.eps) && a.eps >= 0.0f, call, A::name, "eps", a.eps, "finite and at least 0",
                "it keeps the update's denominator away from 0");
  check_decay(a.weight_decay, call, A::name);
}
}  // namespace detail

struct adam {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2, added to the gradient

  static constexpr const char* name = "adam";
  bool operator==(const adam&) const = default;
  /// Refuses settings that would train silently wrong (optimizer.hpp), as torch.optim.Adam does: lr,
  /// eps and weight_decay finite and >= 0, beta1 and beta2 in [0, 1).
  void check(const char* call) const { detail::check_adam(*this, call); }
  std::size_t state_per_param() const { return 2; }

  template <class Ctx, class T>
  void step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, step_count t) const {
    detail::adam_step(ctx, p, g, state, n, t, lr, beta1, beta2, eps, weight_decay, 0.0f);
  }
};

struct adamw {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 1e-2f;  // decoupled

  static constexpr const char* name = "adamw";
  bool operator==(const adamw&) const = default;
  /// Refuses settings that would train silently wrong (optimizer.hpp), as torch.optim.AdamW does: lr,
  /// eps and weight_decay finite and >= 0, beta1 and beta2 in [0, 1).
  void check(const char* call) const { detail::check_adam(*this, call); }
  std::size_t state_per_param() const { return 2; }

  template <class Ctx, class T>
  void step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, step_count t) const {
    detail::adam_step(ctx, p, g, state, n, t, lr, beta1, beta2, eps, 0.0f, weight_decay);
  }
};

static_assert(Optimizer<adam> && Optimizer<adamw>);

}  // namespace plait
