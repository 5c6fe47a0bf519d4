#pragma once
// model::predict and model::evaluate (model.hpp): every device runs its inference program
// (policy/plan.hpp: the forward part of its training program, with gather), through the executor
// that runs training steps. Rows are split over the replicas, streamed through a pipeline's stages
// in micro-batches, and run by a tensor-parallel group's shards together; each group that ends the
// graph hands its micro-batches' output rows to the caller, and, when evaluating, their losses.
// Across processes, each process splits the rows over its own replicas and answers for all of them.

#include <algorithm>
#include <array>
#include <type_traits>

#include "batch_checks.hpp"
#include "jobs.hpp"
#include "model.hpp"

namespace plait {

/// Targets of predict, which has none.
struct no_targets {
  no_targets slice(std::size_t, std::size_t) const { return {}; }
};

template <class Policy, RootedGraph G, class Backend>
template <class Y, class L>
double model<Policy, G, Backend>::infer(const float* x, Y y, std::size_t count) {
  params_.sync();
  params_.align_state();  // every replica predicts with the first replica's running statistics
  // Each process answers for every row with its own replicas: the same bits on every process, no
  // communication across processes. Its replicas hold the rows planned for their share of max_batch,
  // so a process with fewer replicas than the data-parallel degree runs the rows in turns.
  const std::size_t replicas = devices_->local_count() / plan::inner_count;
  const std::size_t turn = devices_->rows() * microbatch_count * replicas;  // rows its replicas hold at once
  double total = 0;
  for (std::size_t at = 0; at < count; at += turn) {
    const std::size_t n = std::min(turn, count - at);
    inference_job<L, Y, device_count> job{
        x + at * input_shape::size,           y.slice(at, n), n, out_.data() + at * output_shape::size, replicas,
        devices_->first() / plan::inner_count};
    devices_->run(job, steps_);
    for (double s : job.loss_sums) total += s;
  }
  return total;
}

template <class Policy, RootedGraph G, class Backend>
samples<typename model<Policy, G, Backend>::output_shape> model<Policy, G, Backend>::predict(samples<input_shape> x) {
  check_batch(x.count, x.count, max_batch(), "predict");
  check_views(x, no_targets{}, "predict");
  infer<no_targets, void>(x.data, no_targets{}, x.count);
  return {out_.data(), x.count};
}

template <class Policy, RootedGraph G, class Backend>
template <Target Y, Loss L>
evaluation model<Policy, G, Backend>::evaluate(samples<input_shape> x, Y y, const L&) {
  L::template check<output_shape, Y>();
  if constexpr (L::template accepts<output_shape, Y>) {
    if (x.count != y.count)
      fail(cat("evaluate is given ", x.count, " samples but ", y.count, " targets"), "every sample needs its target",
           "pass views of equal count");
    check_views(x, y, "evaluate");
    double total = 0;
    std::size_t correct = 0;
    for (std::size_t at = 0; at < x.count; at += rows_per_call()) {
      const std::size_t n = std::min(rows_per_call(), x.count - at);
      const Y part = y.slice(at, n);
      if constexpr (requires { L::validate(part, output_shape::size); }) L::validate(part, output_shape::size);
      total += infer<Y, L>(x.data + at * input_shape::size, part, n);
      if constexpr (std::is_same_v<Y, class_labels>) correct += count_correct<output_shape::size>(out_.data(), part);
    }
    const double count = double(x.count);
    return {x.count ? total / count : 0.0, x.count ? double(correct) / count : 0.0, x.count};
  } else {
    return {};
  }
}

}  // namespace plait
