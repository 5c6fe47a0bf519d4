#pragma once
// Learning-rate schedules, for every optimizer with a `lr` member (sgd, adam, adamw, yours).
//
// A schedule is a function of the step, counted from 0: float(std::size_t). plait gives
//   constant_lr{.lr}                              lr
//   linear_warmup{.lr, .warmup_steps}             lr * min(1, (step + 1) / warmup_steps)
//   cosine_decay{.lr, .total_steps, .min_lr}      min_lr + (lr - min_lr) * (1 + cos(pi * min(step, total) / total)) / 2
//   step_decay{.lr, .every, .gamma}               lr * gamma ^ floor(step / every)
//   warmup_then(steps, schedule)                  a linear ramp to schedule(0) over `steps`, then schedule(step -
//   steps)
// and any callable of that signature is one too (a lambda: the user's function).
//
// scheduled<Opt, S> holds the optimizer and the schedule: next() sets the optimizer's rate for the
// coming step and returns it, to pass to train_step, as torch's scheduler.step() does; lr() reads
// the rate of the last step. The rate is set on the host before the step, so every device and
// every process uses the same value, and a captured CUDA step sees the change (graph_step.hpp
// compares the optimizer's settings each step).
//
//   scheduled opt(adam{}, warmup_then(100, cosine_decay{.lr = 1e-3f, .total_steps = 900}));
//   for (...) m.train_step(x, y, cross_entropy, opt.next());   // opt.lr(): this step's rate

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>

#include "optimizer.hpp"

namespace plait {

/// A learning-rate schedule: the rate of step `step` (from 0).
template <class S>
concept LrSchedule = requires(const S& s, std::size_t step) {
  { s(step) } -> std::convertible_to<float>;
};

struct constant_lr {
  float lr = 1e-3f;
  float operator()(std::size_t) const { return lr; }
};

struct linear_warmup {
  float lr = 1e-3f;
  std::size_t warmup_steps = 1;
  float operator()(std::size_t step) const {
    if (step >= warmup_steps) return lr;
    return float(double(lr) * double(step + 1) / double(warmup_steps));
  }
};

struct cosine_decay {
  float lr = 1e-3f;
  std::size_t total_steps = 1;
  float min_lr = 0.0f;
  float operator()(std::size_t step) const {
    const double pi = 3.14159265358979323846;
    const double at = double(std::min(step, total_steps)) / double(std::max<std::size_t>(total_steps, 1));
    return float(double(min_lr) + (double(lr) - double(min_lr)) * (1 + std::cos(pi * at)) / 2);
  }
};

struct step_decay {
  float lr = 1e-3f;
  std::size_t every = 1;
  float gamma = 0.1f;
  float operator()(std::size_t step) const {
    return float(double(lr) * std::pow(double(gamma), double(step / std::max<std::size_t>(every, 1))));
  }
};

/// A linear ramp from schedule(0) / steps up to schedule(0) over the first `steps`, then the schedule.
template <LrSchedule S>
struct warmup_then_t {
  std::size_t steps = 0;
  S then;
  float operator()(std::size_t step) const {
    if (step < steps) return float(double(then(0)) * double(step + 1) / double(steps));
    return float(then(step - steps));
  }
};
template <LrSchedule S>
warmup_then_t<S> warmup_then(std::size_t steps, S then) {
  return {steps, then};
}

/// An optimizer whose rate follows a schedule.
template <Optimizer Opt, LrSchedule S>
class scheduled {
  static_assert(
      requires(Opt& o) { o.lr = 1.0f; },
      "plait: scheduled<Opt, S> is given an optimizer without a `lr` member. A schedule sets the "
      "optimizer's learning rate before each step. Fix: give the optimizer a float member `lr` (as sgd, "
      "adam and adamw have).");

 public:
  scheduled(Opt opt, S schedule) : opt_(opt), schedule_(schedule) { lr_ = float(schedule_(0)); }

  /// The optimizer for the coming step, its rate set to schedule(step); counts the step.
  Opt& next() {
    lr_ = float(schedule_(step_++));
    opt_.lr = lr_;
    return opt_;
  }
  /// The rate of the last step (before the first, the first step's).
  float lr() const { return lr_; }
  /// Steps taken (next() calls).
  std::size_t steps() const { return step_; }
  const Opt& optimizer() const { return opt_; }

 private:
  Opt opt_;
  S schedule_;
  std::size_t step_ = 0;
  float lr_ = 0;
};

}  // namespace plait
