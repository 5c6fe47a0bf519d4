#pragma once
// Adam (torch.optim.Adam: L2 weight decay added to the gradient) and AdamW (torch.optim.AdamW:
// decoupled weight decay, p *= 1 - lr * wd), with bias correction:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)

#include <cmath>
#include <cstddef>

#include "../kernels/elementwise.hpp"

namespace plait {

namespace detail {
template <class Ctx, class T>
void adam_step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, std::size_t t, float lr, float b1, float b2,
               float eps, float l2, float decoupled) {
  T* m = state;      // [n]
  T* v = state + n;  // [n]
  const double c1 = 1.0 - std::pow(double(b1), double(t));
  const double c2 = 1.0 - std::pow(double(b2), double(t));
  const T step = static_cast<T>(lr / c1);
  const T inv_sqrt_c2 = static_cast<T>(1.0 / std::sqrt(c2));
  const T beta1 = b1, beta2 = b2, epsilon = eps, wd = l2, shrink = T{1} - static_cast<T>(lr) * decoupled;
  for_blocks(ctx, n, 8192, [=] PLAIT_HD(std::size_t b, std::size_t e) {
    T* PLAIT_RESTRICT pp = p;
    T* PLAIT_RESTRICT mm = m;
    T* PLAIT_RESTRICT vv = v;
    const T* PLAIT_RESTRICT gg = g;
    for (std::size_t i = b; i < e; ++i) {
      const T gi = gg[i] + wd * pp[i];
      mm[i] = beta1 * mm[i] + (T{1} - beta1) * gi;
      vv[i] = beta2 * vv[i] + (T{1} - beta2) * gi * gi;
      pp[i] = pp[i] * shrink - step * mm[i] / (std::sqrt(vv[i]) * inv_sqrt_c2 + epsilon);
    }
  });
}
}  // namespace detail

struct adam {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2, added to the gradient

  static constexpr const char* name = "adam";
  std::size_t state_per_param() const { return 2; }

  template <class Ctx, class T>
  void step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, std::size_t t) const {
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
  std::size_t state_per_param() const { return 2; }

  template <class Ctx, class T>
  void step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, std::size_t t) const {
    detail::adam_step(ctx, p, g, state, n, t, lr, beta1, beta2, eps, 0.0f, weight_decay);
  }
};

}  // namespace plait
