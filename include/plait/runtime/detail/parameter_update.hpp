#pragma once
// update_parameters: what a device's optimizer step updates (the executor's optimizer_step
// instruction, runtime/executor.hpp, and a guarded step's update, runtime/step_guard.hpp): its chunks
// of every bucket's reduced gradient under a sharded optimizer (replicate's shard_optimizer), its
// trainable runs where some layers are frozen (graph/frozen.hpp: their state packed), else all its
// parameters at once.

#include <cstddef>

#include "../../core/shard.hpp"
#include "../../core/step_count.hpp"
#include "../../graph/frozen.hpp"
#include "../../policy/buckets.hpp"

namespace plait::detail {

/// Device `device` of Plan, with memory `mem`, applies `opt` for step `count` from `grads` (sharded:
/// its chunks of every bucket, one after another, as `shard_grads()`; else [Pd] as `grads()`);
/// `state`: its optimizer state, packed the same way.
template <class Plan, class Memory, class Opt>
void update_parameters(Memory& mem, std::size_t device, const Opt& opt, const float* grads, float* state,
                       step_count count) {
  using device_layout = typename Plan::device_layout;
  if constexpr (Plan::sharded) {
    std::size_t at = 0;
    for (const bucket& b : Plan::buckets) {
      const shard c = shard_of(b.size, Plan::data_parallel_degree, Plan::replica[device]);
      opt.step(mem.ctx(), mem.params() + b.offset + c.begin, grads + at, state + at * opt.state_per_param(), c.size(),
               count);
      at += c.size();
    }
  } else if constexpr (any_frozen<device_layout>) {
    const auto runs = trainable_runs<device_layout>(mem.owned().first, mem.owned().last);
    for (std::size_t k = 0, at = 0; k < runs.count; at += runs.r[k++].size) {
      const std::size_t from = runs.r[k].offset - mem.param_lo();
      opt.step(mem.ctx(), mem.params() + from, grads + from, state + at * opt.state_per_param(), runs.r[k].size, count);
    }
  } else {
    opt.step(mem.ctx(), mem.params(), grads, state, mem.param_size(), count);
  }
}

}  // namespace plait::detail
