#pragma once
// model::pc_step (model.hpp): one predictive-coding step (docs/predictive_coding.md). Checks the
// batch and the settings, then every device runs its predictive-coding programs
// (program/predictive_coding.hpp, planned and verified by policy/pc_plan.hpp): a forward pass,
// T inference iterations on the value nodes of every stage at once, the weight gradients, and the
// update by the optimizer after the data-parallel reduction. Returns the mean energy per sample at
// the state the weights were computed from.
//
//   plait::pc_options pc{.iterations = 8, .rate = 0.1f};
//   float energy = m.pc_step(x, y, plait::cross_entropy, opt, pc);

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "../policy/pc_plan.hpp"
#include "batch_checks.hpp"
#include "jobs.hpp"
#include "model.hpp"
#include "predictive_coding.hpp"
#include "step_agreement.hpp"

namespace plait {

/// Whether a standard predictive-coding step's inference settled: its energy sum after the last
/// iteration (`last`) is finite and not above the forward state's (`first`, where every hidden
/// error is 0), up to rounding. Gradient descent on the energy lowers it at every iteration while
/// the rate is below 2 over the energy's curvature; above, the nodes oscillate with a growing
/// amplitude and the energy rises. Momentum may overshoot without diverging: with `momentum` m the
/// energy may end up to 1 / (1 - m)^2 times the forward state's.
inline bool pc_energy_settled(double first, double last, std::size_t rows, float momentum = 0.0f) {
  const double m = double(momentum);
  return std::isfinite(last) && std::isfinite(first) &&
         last <= first * (1 + 1e-3) / ((1 - m) * (1 - m)) + 1e-6 * double(rows);
}

template <class Policy, RootedGraph G, class Backend>
template <Samples X, Target Y, Loss L, Optimizer Opt>
float model<Policy, G, Backend>::pc_step(X x, Y y, const L&, Opt& opt, const pc_options& o) {
  static_assert(same_shape<typename X::shape_type, input_shape>::value,
                "plait: the batch's sample shape differs from the graph's input shape. pc_step feeds the batch to "
                "input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
  L::template check<output_shape, Y>();
  // The policy's and the layers' checks (policy/pc_plan.hpp); after a failed one, stop: one message.
  if constexpr (pc_plan<plan>::trainable && std::is_same_v<typename X::shape_type, input_shape> &&
                L::template accepts<output_shape, Y>) {
    check_batch(x.count, y.count, max_batch(), "pc_step");
    check_views(x, y, "pc_step");
    plait::check_optimizer(opt, "pc_step");
    if (x.count < data_parallel_degree)
      fail(cat("pc_step is given a batch of ", x.count, " samples for ", data_parallel_degree, " replicas"),
           "every replica works on a share of the batch, and a share cannot be empty",
           cat("pass batches of at least ", data_parallel_degree, " samples"));
    if (o.iterations == 0)
      fail("pc_step is given iterations = 0", "a step runs its inference iterations before it updates the weights",
           "pass iterations >= 1");
    if (!(std::isfinite(o.rate) && o.rate > 0))
      fail(cat("pc_step is given the inference rate ", o.rate),
           "the value nodes move by rate times the energy's gradient", "pass a finite rate > 0, e.g. 0.1");
    if (!(o.momentum >= 0 && o.momentum < 1))
      fail(cat("pc_step is given the momentum ", o.momentum), "the value nodes' momentum must decay",
           "pass a momentum in [0, 1)");
    const std::size_t records = o.variant == pc_variant::incremental ? o.iterations : o.iterations + 1;
    if (!o.energies.empty() && o.energies.size() != records)
      fail(cat("pc_step is given ", o.energies.size(), " places for energies"),
           cat("a ", to_string(o.variant), " step of ", o.iterations, " iterations computes its errors ", records,
               " times"),
           cat("pass a span of ", records, " doubles, or none"));
    if (guard_.active())
      fail("pc_step is called on a model with guard_steps", "clipping and the non-finite skip guard train_step",
           "call guard_steps({}) before pc_step, or train with train_step");
    if constexpr (requires { L::validate(y, output_shape::size); }) L::validate(y, output_shape::size);
    params_.sync();
    pc_job<L, Y, Opt, device_count> job{{x.data, y, x.count, &opt, data_parallel_degree}, &o};
    for (std::size_t l = 0; l < devices_->local_count(); ++l) {
      auto& m = devices_->memory(l);
      const std::size_t shard = plan::shard_floats[devices_->first() + l];
      const std::size_t floats = shard ? shard : trainable_floats<device_layout>(m);
      job.state[l] = m.template optimizer_state<Opt>(opt.state_per_param() * floats);
    }
    std::vector<double> sums;  // [local device][record]: only where the caller asked for the energies
    if (!o.energies.empty()) {
      sums.assign(devices_->local_count() * records, 0.0);
      for (std::size_t l = 0; l < devices_->local_count(); ++l) job.energy[l].record = sums.data() + l * records;
    }
    devices_->run(job, steps_);
    double sums2[2] = {0, 0};  // the energy's sums: at the state the weights came from, at the forward state
    for (const pc_energy& e : job.energy) sums2[0] += e.last, sums2[1] += e.first;
    for (std::size_t k = 0; k < o.energies.size(); ++k) {
      o.energies[k] = 0;
      for (std::size_t l = 0; l < devices_->local_count(); ++l) o.energies[k] += sums[l * records + k];
    }
    if (process_comm* world = devices_->world()) {  // the ranks' batch and settings are checked on the way
      agree_.sum(*world, sums2, 2, x.count, opt, steps_, "the energy's sums");
      for (std::size_t k = 0; k < o.energies.size(); k += step_agreement::max_values)
        agree_.sum(*world, o.energies.data() + k, std::min(step_agreement::max_values, o.energies.size() - k), x.count,
                   opt, steps_, "the energies' sums");
    }
    for (double& e : o.energies) e /= double(x.count);
    ++steps_;
    const double total = sums2[0], first = sums2[1], per = double(x.count);
    if (o.variant == pc_variant::standard && !pc_energy_settled(first, total, x.count, o.momentum))
      fail(cat("pc_step's energy ", std::isfinite(total) ? "rose" : "became non-finite", " over its ", o.iterations,
               " inference iterations (step ", steps_, "): ", first / per, " per sample at the forward pass, ",
               total / per, " after the last iteration"),
           cat("the value nodes' inference diverged, and the weights were updated from its errors: an iteration is "
               "stable while the rate times the energy's curvature stays below 2, and that curvature grows with the "
               "weights (1 + |W|^2 at a linear layer's input node; rate ",
               o.rate, " allows a largest singular value of about ",
               std::sqrt(std::max(2.0 / double(o.rate) - 1.0, 0.0)), ")"),
           "lower pc_options::rate, hold the weights' growth (more weight decay, a lower learning rate), and restart "
           "from parameters saved before the energy rose");
    return float(total / per);
  } else {
    return 0.0f;
  }
}

}  // namespace plait
