#pragma once
// step_guard: gradient clipping by global norm and the non-finite check of a training step
// (model::guard_steps). Off by default, and then it costs a step nothing: train_step takes its
// usual path.
//
// Where it acts: the norm needs every device's gradient after the data-parallel reduction and
// before the optimizer step. A guarded step runs the devices' programs with the update deferred:
// at its optimizer_step instruction each device waits for its reductions, then sums the squares of
// the gradients it holds that no other device holds too (replica 0's copy of each parameter; under
// partition, the first tensor rank's copy of a block every rank keeps whole, such as a row-split
// linear's bias), and stops. The host adds the devices' sums; across processes the step's loss and
// that sum travel together in the one all-reduce that already sums the loss, so every rank gets
// the same two numbers and decides alike, without an extra round trip. Then each device scales its
// gradient (when clipping) and applies the optimizer, or nobody does (a skipped step: parameters,
// optimizer state and its step count left as they were).
//
//   m.guard_steps({.max_norm = 1.0f, .skip_nonfinite = true});
//   m.train_step(x, y, cross_entropy, opt);  // clipped; skipped everywhere if the loss or a gradient is inf/NaN
//   m.skipped_steps(); m.gradient_norm();
//
// A policy that shards its optimizer (replicate<N, shard_optimizer>): each device measures the chunks
// of the reduced gradient it owns (every replica's count, as they are disjoint), and after the
// decision updates its chunks and all-gathers the parameters over its data-parallel group in place of
// the program's own all-gathers (which a guarded step leaves out; a skipped step gathers nothing).
//
// Limits: a guarded step runs eagerly (not from a captured CUDA graph); on CUDA the squares are
// summed on the host from a copy of the gradient.

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/step_count.hpp"
#include "../graph/frozen.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "data_parallel_collective.hpp"
#include "detail/parameter_update.hpp"
#include "step_agreement.hpp"

namespace plait {

/// What guard_steps asks of every following step.
struct step_guard_options {
  float max_norm = 0;  // > 0: scale the gradient so that its global L2 norm is at most this (torch's clip_grad_norm_)
  bool skip_nonfinite = false;  // an inf or NaN loss or gradient skips the step on every rank alike
};

/// The executor's hook (executor.hpp): device `local` of this process reached its optimizer_step
/// with its gradient reduced; measure it, and leave the update to the guard.
class deferred_update {
 public:
  virtual void measure(std::size_t local) = 0;

 protected:
  ~deferred_update() = default;
};

template <class Plan, class Devices>
class step_guard final : public deferred_update {
  struct range {
    std::size_t begin = 0, end = 0;  // floats of the device's gradient, [begin, end)
  };

 public:
  /// Checks the options against the plan and plans, per local device, which of its gradient it counts.
  void configure(Devices& devices, step_guard_options o) {
    if (!(o.max_norm >= 0) || std::isinf(o.max_norm))
      fail(cat("guard_steps is given max_norm ", o.max_norm), "the gradient's norm is clipped to a finite bound",
           "pass a positive max_norm, or 0 for no clipping");
    devices_ = &devices;
    options_ = o;
    const std::size_t local = devices.local_count();
    ranges_.assign(local, {});
    partial_.assign(local, 0.0);
    if constexpr (!Devices::memory_type::host_memory) host_.assign(local, {});
    for (std::size_t l = 0; l < local; ++l) {
      const std::size_t d = devices.first() + l;
      const auto& m = devices.memory(l);
      if constexpr (!Devices::memory_type::host_memory) host_[l].resize(m.param_size());
      if constexpr (Plan::sharded) {  // its chunks of the reduced gradient: disjoint across the replicas
        ranges_[l].push_back({0, Plan::shard_floats[d]});
        continue;
      }
      if (Plan::replica[d] != 0) continue;  // another replica's copy, equal after the reduction
      if constexpr (Plan::has_param_blocks) {
        const auto& mine = Plan::param_blocks[d];
        for (std::size_t k = 0; k < mine.count; ++k) {
          const auto& b = mine.b[k];
          if (b.local < m.param_lo() || b.local >= m.param_lo() + m.param_size()) continue;  // another stage's
          if (held_before(d, b.global)) continue;                                            // a copy
          if (frozen_at(b.local)) continue;  // a frozen layer's (graph/frozen.hpp)
          ranges_[l].push_back({b.local - m.param_lo(), b.local - m.param_lo() + b.rows * b.cols});
        }
      } else {  // the trainable runs (graph/frozen.hpp): the whole gradient unless a layer is frozen
        const auto runs = trainable_runs<typename Plan::device_layout>(m.owned().first, m.owned().last);
        for (std::size_t k = 0; k < runs.count; ++k)
          ranges_[l].push_back({runs.r[k].offset - m.param_lo(), runs.r[k].offset - m.param_lo() + runs.r[k].size});
      }
    }
  }

  bool active() const { return options_.max_norm > 0 || options_.skip_nonfinite; }
  const step_guard_options& options() const { return options_; }
  std::size_t skipped() const { return skipped_; }
  /// The global L2 norm of the last guarded step's gradient (before clipping); NaN before one.
  double norm() const { return norm_; }

  /// On device `local`'s thread: its share of the squared norm.
  void measure(std::size_t local) override {
    auto& m = devices_->memory(local);
    const float* g = gradient(local);  // [Pd] (sharded: [its chunks]) @ the device, reduced
    if constexpr (!Devices::memory_type::host_memory) {
      copy_to_host(m.ctx(), host_[local].data(), g,
                   Plan::sharded ? Plan::shard_floats[m_device(local)] : m.param_size());
      g = host_[local].data();
    }
    double s = 0;
    for (const range& r : ranges_[local])
      for (std::size_t i = r.begin; i < r.end; ++i) s += double(g[i]) * double(g[i]);
    partial_[local] = s;
  }

  /// This process's share of the squared norm, once every device measured.
  double local_square() const {
    double s = 0;
    for (double p : partial_) s += p;
    return s;
  }

  /// From the step's summed loss and squared norm (the same on every rank): the factor to scale the
  /// gradient by, or 0 when the step is skipped.
  float decide(double loss, double square) {
    norm_ = std::sqrt(square);
    if (options_.skip_nonfinite && !(std::isfinite(loss) && std::isfinite(square))) {
      ++skipped_;
      return 0.0f;
    }
    if (options_.max_norm > 0) {
      const double coef = double(options_.max_norm) / (norm_ + 1e-6);  // torch.nn.utils.clip_grad_norm_
      if (coef < 1) return float(coef);
    }
    return 1.0f;
  }

  /// On device `local`'s thread: scales its gradient by `scale` (unless 1) and applies the optimizer.
  template <class Opt>
  void update(std::size_t local, Opt& opt, float* state, float scale) {
    auto& m = devices_->memory(local);
    float* g = gradient(local);  // [Pd] (sharded: [its chunks]) @ the device
    const std::size_t n = Plan::sharded ? Plan::shard_floats[m_device(local)] : m.param_size();
    if (scale != 1.0f)
      for_blocks(m.ctx(), n, 8192, [=] PLAIT_HD(std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) g[i] *= scale;
      });
    detail::update_parameters<Plan>(m, m_device(local), opt, g, state, m.next_optimizer_step());
    if constexpr (Plan::sharded)
      for (std::size_t k = 0; k < Plan::buckets.size(); ++k)  // every replica's chunks -> whole parameters
        data_parallel_collective<Plan>(devices_->data_group(local), m, m_device(local),
                                       instruction{.op = opcode::all_gather, .buffer = std::uint16_t(k)});
  }

 private:
  std::size_t m_device(std::size_t local) const { return devices_->first() + local; }
  float* gradient(std::size_t local) {
    auto& m = devices_->memory(local);
    if constexpr (Plan::sharded) return m.shard_grads();
    else return m.grads();
  }
  // Whether the device graph's parameter at flat offset `local` belongs to a frozen layer.
  static bool frozen_at(std::size_t local) {
    using DL = typename Plan::device_layout;
    for (std::size_t i = 0; i < DL::layer_count; ++i)
      if (DL::param_sizes[i] > 0 && DL::param_offsets[i] <= local && local < DL::param_offsets[i] + DL::param_sizes[i])
        return frozen_layers<DL>[i];
    return false;
  }
  // Whether a device before d of replica 0 holds the whole model's parameters at `global` too.
  static bool held_before(std::size_t d, std::size_t global) {
    for (std::size_t e = 0; e < d; ++e) {
      if (Plan::replica[e] != 0) continue;
      const auto& theirs = Plan::param_blocks[e];
      for (std::size_t k = 0; k < theirs.count; ++k)
        if (theirs.b[k].global == global) return true;
    }
    return false;
  }

  Devices* devices_ = nullptr;
  step_guard_options options_{};
  std::vector<std::vector<range>> ranges_;  // [local device]: the parts of its gradient it counts
  std::vector<double> partial_;             // [local device]: its share of the squared norm, this step
  std::vector<std::vector<float>> host_;    // [local device]: its gradient read back (device memory only)
  std::size_t skipped_ = 0;
  double norm_ = std::numeric_limits<double>::quiet_NaN();
};

/// A guarded training step (train_step.hpp, with the guard active): the devices' programs with the
/// update deferred, the loss and squared norm summed, then the update on every device or none.
template <class Plan, class Devices, class Job>
double guarded_step(Devices& devices, step_guard<Plan, Devices>& guard, step_agreement& agree, Job& job,
                    std::uint64_t step) {
  job.guard = &guard;
  devices.run(job, step);
  double loss = 0;
  for (double s : job.loss_sums) loss += s;
  double square = guard.local_square();
  if (auto* world = devices.world()) {  // the loss's sum carries the squared norm too: no extra round trip
    double both[2] = {loss, square};
    agree.sum(*world, both, 2, job.total ? job.total : job.count, *job.opt, step,
              "the loss's and the gradient norm's sum");
    loss = both[0];
    square = both[1];
  }
  const float scale = guard.decide(loss, square);
  if (scale == 0.0f) return loss;
  struct call {
    step_guard<Plan, Devices>& guard;
    Job& job;
    float scale;
    static void on(void* arg, std::size_t l) {
      auto& c = *static_cast<call*>(arg);
      c.guard.update(l, *c.job.opt, c.job.state[l], c.scale);
    }
  } c{guard, job, scale};
  devices.each(&call::on, &c);
  return loss;
}

}  // namespace plait
