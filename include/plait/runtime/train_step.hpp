#pragma once
// model::train_step (model.hpp): checks the batch, then every device runs its training program for
// a training job, which says what the step's instructions read: the batch, the loss, the
// optimizer and its state. The loss comes back summed per device and, across processes, over them.

#include <array>
#include <type_traits>

#include "batch_checks.hpp"
#include "jobs.hpp"
#include "model.hpp"
#include "step_agreement.hpp"
#include "step_guard.hpp"

namespace plait {

template <class Policy, RootedGraph G, class Backend>
template <Samples X, Target Y, Loss L, Optimizer Opt>
float model<Policy, G, Backend>::train_step(X x, Y y, const L&, Opt& opt) {
  static_assert(same_shape<typename X::shape_type, input_shape>::value,
                "plait: the batch's sample shape differs from the graph's input shape. train_step feeds the "
                "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
  L::template check<output_shape, Y>();
  // After a failed check, stop here: one message, not a cascade.
  if constexpr (std::is_same_v<typename X::shape_type, input_shape> && L::template accepts<output_shape, Y>) {
    check_batch(x.count, y.count, max_batch(), "train_step");
    const std::size_t least = data_parallel_degree * microbatch_count;
    if (x.count < least)
      fail(
          cat("train_step is given a batch of ", x.count, " samples for ", data_parallel_degree, " replica(s) of ",
              microbatch_count, " micro-batch(es)"),
          cat(plan::name, " gives every replica's every micro-batch a share of the batch, and a share cannot be empty"),
          cat("pass batches of at least ", least, " samples (drop or pad the last one)"));
    if (!plan::uneven && microbatch_count > 1)
      for (std::size_t r = 0; r < data_parallel_degree; ++r)
        if (shard_of(x.count, data_parallel_degree, r).size() % microbatch_count != 0)
          fail(cat("train_step is given a batch of ", x.count, " samples, whose share does not divide into ",
                   microbatch_count, " micro-batches"),
               "equal micro-batches keep the pipeline's stages in step",
               "pass a batch divisible by the micro-batch count, or add the option uneven_microbatches");
    if constexpr (requires { L::validate(y, output_shape::size); }) L::validate(y, output_shape::size);
    params_.sync();
    if (guard_.active()) return guarded_train_step<L>(x.data, y, x.count, opt);
    if constexpr (has_step_graph)
      if (devices_->options().cuda_graph) return graph_step<L>(x.data, y, x.count, opt);
    return eager_step<L>(x.data, y, x.count, opt);
  } else {
    return 0.0f;
  }
}

template <class Policy, RootedGraph G, class Backend>
template <class L, class Y, class Opt>
float model<Policy, G, Backend>::eager_step(const float* x, Y y, std::size_t count, Opt& opt) {
  train_job<L, Y, Opt, device_count> job{x, y, count, &opt, data_parallel_degree};
  for (std::size_t l = 0; l < devices_->local_count(); ++l) {
    auto& m = devices_->memory(l);
    const std::size_t shard = plan::shard_floats[devices_->first() + l];            // sharded: its chunks only
    const std::size_t floats = shard ? shard : trainable_floats<device_layout>(m);  // frozen layers keep no state
    job.state[l] = m.template optimizer_state<Opt>(opt.state_per_param() * floats);
  }
  devices_->run(job, steps_);
  double total = 0;
  for (double s : job.loss_sums) total += s;
  if (process_comm* world =
          devices_->world())  // each process summed its replicas' rows; the ranks' batch and settings agree
    agree_.sum(*world, &total, 1, count, opt, steps_, "the loss's sum");  // step_agreement.hpp
  ++steps_;
  return float(total / double(count));
}

template <class Policy, RootedGraph G, class Backend>
template <class L, class Y, class Opt>
float model<Policy, G, Backend>::guarded_train_step(const float* x, Y y, std::size_t count, Opt& opt) {
  train_job<L, Y, Opt, device_count> job{x, y, count, &opt, data_parallel_degree};
  for (std::size_t l = 0; l < devices_->local_count(); ++l)
    job.state[l] = devices_->memory(l).template optimizer_state<Opt>(
        opt.state_per_param() * trainable_floats<device_layout>(devices_->memory(l)));
  const double total = guarded_step(*devices_, guard_, agree_, job, steps_);
  ++steps_;
  return float(total / double(count));
}

}  // namespace plait
