#pragma once
// model::accumulate_step (model.hpp): gradient accumulation in one call. The global batch is cut
// into `chunks` consecutive chunks; every device runs its training program on each chunk in turn,
// adding the chunk's gradients onto the ones before, with its data-parallel collectives and its
// update left out for every chunk but the last. The gradients are therefore synchronised exactly
// once, after the last chunk, and the parameters equal one step on the whole batch (each chunk's
// loss is normalised by the whole batch's size). The batch may be up to chunks * max_batch samples:
// activations are planned for one chunk.
//
// One call does all K chunks, so no replica can be left with gradients the others lack: there is
// no half-accumulated state between calls. Every chunk is checked before the first runs.
//
//   m.accumulate_step(x, y, cross_entropy, opt, 4);  // 4 chunks, one synchronisation, one update
//   m.accumulate_step(mine_x, mine_y, cross_entropy, opt, 4, process_rows{.global_batch = 256});  // this process's
//   rows
//
// Limits: layers whose forward depends on the batch (batchnorm2d's statistics) see a chunk, not the
// batch; dropout draws its masks per chunk.

#include <cstddef>
#include <type_traits>

#include "batch_checks.hpp"
#include "model.hpp"
#include "step_guard.hpp"
#include "train_step.hpp"

namespace plait {

template <class Policy, RootedGraph G, class Backend>
template <Samples X, Target Y, Loss L, Optimizer Opt>
float model<Policy, G, Backend>::accumulate_step(X x, Y y, const L&, Opt& opt, std::size_t chunks) {
  static_assert(same_shape<typename X::shape_type, input_shape>::value,
                "plait: the batch's sample shape differs from the graph's input shape. accumulate_step feeds the "
                "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
  L::template check<output_shape, Y>();
  if constexpr (std::is_same_v<typename X::shape_type, input_shape> && L::template accepts<output_shape, Y>) {
    if (chunks == 0)
      fail("accumulate_step is given 0 chunks", "the batch is cut into chunks that run one after another",
           "pass chunks >= 1 (1: a plain train_step)");
    if (x.count != y.count || x.count == 0) check_batch(x.count, y.count, x.count, "accumulate_step");
    check_views(x, y, "accumulate_step");
    plait::check_optimizer(opt, "accumulate_step");
    if (x.count > chunks * max_batch())
      fail(cat("accumulate_step is given a batch of ", x.count, " samples in ", chunks,
               " chunks of at most max_batch = ", max_batch()),
           "activations were planned at place(...) for one chunk of max_batch samples",
           cat("pass at least ", (x.count + max_batch() - 1) / max_batch(),
               " chunks, or raise place_options.max_batch"));
    check_chunks(x.count, chunks, data_parallel_degree);
    if constexpr (requires { L::validate(y, output_shape::size); }) L::validate(y, output_shape::size);
    params_.sync();
    return accumulate_rows<L>(x.data, y, x.count, opt, chunks, {});
  } else {
    return 0.0f;
  }
}

template <class Policy, RootedGraph G, class Backend>
template <Samples X, Target Y, Loss L, Optimizer Opt>
float model<Policy, G, Backend>::accumulate_step(X x, Y y, const L& loss, Opt& opt, std::size_t chunks,
                                                 process_rows g) {
  static_assert(same_shape<typename X::shape_type, input_shape>::value,
                "plait: the batch's sample shape differs from the graph's input shape. accumulate_step feeds the "
                "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
  L::template check<output_shape, Y>();
  if constexpr (std::is_same_v<typename X::shape_type, input_shape> && L::template accepts<output_shape, Y>) {
    if (!devices_->world()) {  // one process: x is the whole batch
      if (x.count != g.global_batch)
        fail(cat("accumulate_step is given ", x.count, " samples as the rows of a global batch of ", g.global_batch),
             "in one process every replica is this process's, so its rows are the whole batch",
             "pass the whole batch, or its size as global_batch");
      return accumulate_step(x, y, loss, opt, chunks);
    }
    if (chunks == 0)
      fail("accumulate_step is given 0 chunks", "the batch is cut into chunks that run one after another",
           "pass chunks >= 1 (1: a plain train_step)");
    plait::check_optimizer(opt, "accumulate_step");
    const replica_range mine = process_replicas();
    const shard rows = rows_of_process(g.global_batch);
    if (x.count != rows.size() || y.count != rows.size() || x.count == 0)
      fail(cat("accumulate_step is given ", x.count, " samples and ", y.count,
               " targets as this process's rows of a global batch of ", g.global_batch),
           cat("this process (rank ", devices_->process_rank(), ") holds replicas [", mine.first, ", ", mine.last,
               ") of ", data_parallel_degree, ", whose rows of the global batch are ", rows.size()),
           "pass exactly those rows: a loader over model.sampler(...) with replicas = model.process_replicas() "
           "gathers them");
    if (g.global_batch > chunks * max_batch())
      fail(cat("accumulate_step is given a global batch of ", g.global_batch, " samples in ", chunks,
               " chunks of at most max_batch = ", max_batch()),
           "activations were planned at place(...) for one chunk of max_batch samples",
           cat("pass at least ", (g.global_batch + max_batch() - 1) / max_batch(),
               " chunks, or raise place_options.max_batch"));
    check_chunks(x.count, chunks, mine.last - mine.first);
    if constexpr (requires { L::validate(y, output_shape::size); }) L::validate(y, output_shape::size);
    params_.sync();
    return accumulate_rows<L>(x.data, y, x.count, opt, chunks, {mine.last - mine.first, mine.first, g.global_batch});
  } else {
    return 0.0f;
  }
}

// Every chunk of `count` rows gives each of `replicas` replicas' micro-batches a share.
template <class Policy, RootedGraph G, class Backend>
void model<Policy, G, Backend>::check_chunks(std::size_t count, std::size_t chunks, std::size_t replicas) const {
  const std::size_t least = replicas * microbatch_count;
  for (std::size_t k = 0; k < chunks; ++k) {
    const std::size_t n = shard_of(count, chunks, k).size();
    if (n < least)
      fail(cat("accumulate_step is given a batch of ", count, " samples in ", chunks, " chunks: chunk ", k, " has ", n,
               " samples for ", replicas, " replica(s) of ", microbatch_count, " micro-batch(es)"),
           "every replica's every micro-batch of every chunk needs a share of it",
           cat("pass at least ", least * chunks, " samples, or fewer chunks"));
    if (!plan::uneven && microbatch_count > 1)
      for (std::size_t r = 0; r < replicas; ++r)
        if (shard_of(n, replicas, r).size() % microbatch_count != 0)
          fail(cat("accumulate_step is given a batch of ", count, " samples in ", chunks, " chunks: chunk ", k, " of ",
                   n, " samples does not divide into ", microbatch_count, " micro-batches per replica"),
               "equal micro-batches keep the pipeline's stages in step",
               "pass a batch that the chunks and micro-batches divide, or add the option uneven_microbatches");
  }
}

template <class Policy, RootedGraph G, class Backend>
template <class L, class Y, class Opt>
float model<Policy, G, Backend>::accumulate_rows(const float* x, Y y, std::size_t count, Opt& opt, std::size_t chunks,
                                                 step_rows rows) {
  const std::size_t global = rows.global ? rows.global : count;
  train_job<L, Y, Opt, device_count> job{x, y, count, &opt, rows.replicas, rows.first_replica};
  for (std::size_t l = 0; l < devices_->local_count(); ++l) {
    auto& m = devices_->memory(l);
    const std::size_t shard = plan::shard_floats[devices_->first() + l];
    job.state[l] =
        m.template optimizer_state<Opt>(opt.state_per_param() * (shard ? shard : trainable_floats<device_layout>(m)));
  }
  job.total = global;
  double total = 0;
  for (std::size_t k = 0; k < chunks; ++k) {
    const shard c = shard_of(count, chunks, k);
    job.x = x + c.begin * input_shape::size;
    job.y = y.slice(c.begin, c.size());
    job.count = c.size();
    job.accumulating = k > 0;
    job.local_only = k + 1 < chunks;
    if (job.local_only || !guard_.active()) {
      devices_->run(job, steps_);
      continue;
    }
    total = guarded_step(*devices_, guard_, agree_, job, steps_);  // the last chunk: clipped or skipped as configured
  }
  if (!guard_.active()) {
    for (double s : job.loss_sums) total += s;
    if (process_comm* world = devices_->world()) agree_.sum(*world, &total, 1, global, opt, steps_, "the loss's sum");
  }
  ++steps_;
  return float(total / double(global));
}

}  // namespace plait
