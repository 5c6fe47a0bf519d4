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
    check_views(x, y, "train_step");
    plait::check_optimizer(opt, "train_step");
    check_step_batch(x.count, "train_step");
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
template <Samples X, Target Y, Loss L, Optimizer Opt>
float model<Policy, G, Backend>::train_step(X x, Y y, const L& loss, Opt& opt, process_rows g) {
  static_assert(same_shape<typename X::shape_type, input_shape>::value,
                "plait: the batch's sample shape differs from the graph's input shape. train_step feeds the "
                "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
  L::template check<output_shape, Y>();
  if constexpr (std::is_same_v<typename X::shape_type, input_shape> && L::template accepts<output_shape, Y>) {
    const std::size_t n = g.global_batch;
    if (n == 0 || n > max_batch())
      check_batch(n, n, max_batch(), "train_step");  // the global batch: empty, or more than planned
    const replica_range mine = process_replicas();
    const shard rows = rows_of_process(n);
    if (x.count != rows.size() || y.count != rows.size())
      fail(cat("train_step is given ", x.count, " samples and ", y.count,
               " targets as this process's rows of a global "
               "batch of ",
               n),
           cat("this process (rank ", devices_->process_rank(), " of ", devices_->process_count(), ") holds replicas [",
               mine.first, ", ", mine.last, ") of ", data_parallel_degree, ", whose rows of the global batch are ",
               rows.size(), " (rows ", rows.begin, " to ", rows.end, ")"),
           cat("pass exactly those rows: a loader over model.sampler(...) with replicas = model.process_replicas() "
               "gathers them"));
    if (!devices_->world()) return train_step(x, y, loss, opt);  // one process: x is the whole batch
    plait::check_optimizer(opt, "train_step");
    check_step_batch(n, "train_step");
    if constexpr (requires { L::validate(y, output_shape::size); }) L::validate(y, output_shape::size);
    params_.sync();
    const step_rows part{mine.last - mine.first, mine.first, n};
    if (guard_.active()) return guarded_train_step<L>(x.data, y, x.count, opt, part);
    return eager_step<L>(x.data, y, x.count, opt, part);
  } else {
    return 0.0f;
  }
}

// What every replica's micro-batches need of a global batch of `count` samples.
template <class Policy, RootedGraph G, class Backend>
void model<Policy, G, Backend>::check_step_batch(std::size_t count, const char* call) const {
  const std::size_t least = data_parallel_degree * microbatch_count;
  if (count < least)
    fail(cat(call, " is given a batch of ", count, " samples for ", data_parallel_degree, " replica(s) of ",
             microbatch_count, " micro-batch(es)"),
         cat(plan::name, " gives every replica's every micro-batch a share of the batch, and a share cannot be empty"),
         cat("pass batches of at least ", least, " samples (drop or pad the last one)"));
  if (!plan::uneven && microbatch_count > 1)
    for (std::size_t r = 0; r < data_parallel_degree; ++r)
      if (shard_of(count, data_parallel_degree, r).size() % microbatch_count != 0)
        fail(cat(call, " is given a batch of ", count, " samples, whose share does not divide into ", microbatch_count,
                 " micro-batches"),
             "equal micro-batches keep the pipeline's stages in step",
             "pass a batch divisible by the micro-batch count, or add the option uneven_microbatches");
}

template <class Policy, RootedGraph G, class Backend>
template <class L, class Y, class Opt>
float model<Policy, G, Backend>::eager_step(const float* x, Y y, std::size_t count, Opt& opt, step_rows rows) {
  train_job<L, Y, Opt, device_count> job{x, y, count, &opt, rows.replicas, rows.first_replica};
  job.total = rows.global;
  const std::size_t global = rows.global ? rows.global : count;
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
    agree_.sum(*world, &total, 1, global, opt, steps_, "the loss's sum");  // step_agreement.hpp
  ++steps_;
  return float(total / double(global));
}

template <class Policy, RootedGraph G, class Backend>
template <class L, class Y, class Opt>
float model<Policy, G, Backend>::guarded_train_step(const float* x, Y y, std::size_t count, Opt& opt, step_rows rows) {
  train_job<L, Y, Opt, device_count> job{x, y, count, &opt, rows.replicas, rows.first_replica};
  job.total = rows.global;
  for (std::size_t l = 0; l < devices_->local_count(); ++l)  // sharded: its chunks' state, as a plain step's
    job.state[l] = devices_->memory(l).template optimizer_state<Opt>(
        opt.state_per_param() * optimizer_floats<plan>(devices_->memory(l), devices_->first() + l));
  const double total = guarded_step(*devices_, guard_, agree_, job, steps_);
  ++steps_;
  return float(total / double(rows.global ? rows.global : count));
}

}  // namespace plait
