#pragma once
// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with
// PyTorch's update rule (torch.optim.SGD, dampening 0):
//   g = grad + wd * p;  buf = momentum * buf + g;  p -= lr * (nesterov ? g + momentum * buf : buf)
// buf below the smallest normal float is stored as 0 (flush_subnormal, optimizer.hpp).

#include <cstddef>

#include "../core/error.hpp"

#include "../kernels/elementwise.hpp"
#include "optimizer.hpp"

namespace plait {

struct sgd {
  float lr = 0.01f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;

  static constexpr const char* name = "sgd";
  bool operator==(const sgd&) const = default;
  /// Refuses settings that would train silently wrong (optimizer.hpp), as torch.optim.SGD does and
  /// more: lr and weight_decay finite and >= 0, momentum in [0, 1], Nesterov only with momentum.
  void check(const char* call) const {
    detail::check_rate(lr, call, name);
    detail::check_setting(momentum >= 0.0f && momentum <= 1.0f, call, name, "momentum", momentum, "in [0, 1]",
                          "the momentum buffer keeps that fraction of itself each step, and above 1 it grows "
                          "without bound");
    detail::check_decay(weight_decay, call, name);
    if (nesterov && momentum == 0.0f)
      fail(cat(call, " is given sgd with nesterov = true and momentum = 0"),
           "Nesterov's update looks ahead along the momentum buffer, which momentum 0 does not keep",
           "pass a momentum > 0 with nesterov = true (e.g. 0.9), or nesterov = false");
  }
  /// Floats of state per parameter (the momentum buffer).
  std::size_t state_per_param() const { return momentum != 0.0f ? 1 : 0; }

  /// Updates p[0..n) from g; `state` holds state_per_param() * n floats, zero before step 1.
  template <class Ctx, class T>
  void step(const Ctx& ctx, T* p, const T* g, T* state, std::size_t n, std::size_t /*t*/) const {
    const T lr_ = lr, mu = momentum, wd = weight_decay;
    const bool nest = nesterov;
    if (momentum == 0.0f) {
      for_blocks(ctx, n, 8192, [=] PLAIT_HD(std::size_t b, std::size_t e) {
        T* PLAIT_RESTRICT pp = p;
        const T* PLAIT_RESTRICT gg = g;
        for (std::size_t i = b; i < e; ++i) pp[i] -= lr_ * (gg[i] + wd * pp[i]);
      });
      return;
    }
    for_blocks(ctx, n, 8192, [=] PLAIT_HD(std::size_t b, std::size_t e) {
      T* PLAIT_RESTRICT pp = p;
      T* PLAIT_RESTRICT buf = state;
      const T* PLAIT_RESTRICT gg = g;
      for (std::size_t i = b; i < e; ++i) {
        const T gi = gg[i] + wd * pp[i];
        buf[i] = flush_subnormal(mu * buf[i] + gi);  // optimizer.hpp: no subnormal state
        pp[i] -= lr_ * (nest ? gi + mu * buf[i] : buf[i]);
      }
    });
  }
};

static_assert(Optimizer<sgd>);

}  // namespace plait
