#pragma once
// One data-parallel collective of a device's program (executor.hpp runs it on the device's
// communication worker): the whole gradient's all-reduce, or a bucket's all-reduce, reduce-scatter
// (into the device's optimizer shard) or all-gather (of the parameters after a sharded update),
// over the device's data-parallel group. Frozen layers' runs and buckets are not communicated
// (graph/frozen.hpp).

#include <cstddef>

#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "../graph/frozen.hpp"
#include "../policy/buckets.hpp"
#include "../program/instruction.hpp"

namespace plait {

/// Device `device`'s collective `i` over `group`, on its memory `mem` (device_memory).
template <class Plan, class Group, class Memory>
void data_parallel_collective(Group& group, Memory& mem, std::size_t device, const instruction& i) {
  using device_layout = typename Plan::device_layout;
  if (i.buffer == whole_gradient) {
    if constexpr (any_frozen<device_layout>) {  // the trainable runs only
      const auto runs = trainable_runs<device_layout>(mem.owned().first, mem.owned().last);
      for (std::size_t k = 0; k < runs.count; ++k)
        group.all_reduce(mem.grads() + runs.r[k].offset - mem.param_lo(), runs.r[k].size);
    } else {
      group.all_reduce(mem.grads(), mem.param_size());  // [Pd] @ every replica of my inner rank -> summed
    }
  } else if constexpr (Plan::buckets.size() > 0) {
    const bucket& b = Plan::buckets[i.buffer];
    if (b.size == 0) return;  // frozen layers' bucket: nothing to communicate
    const std::size_t dp_rank = Plan::replica[device];
    const shard c = shard_of(b.size, Plan::data_parallel_degree, dp_rank);
    switch (i.op) {
      case opcode::all_reduce:  // [bucket] @ every replica -> summed, on every replica
        group.all_reduce(mem.grads() + b.offset, b.size);
        break;
      case opcode::reduce_scatter: {  // [bucket] @ every replica -> my chunk of the sum
        std::size_t at = 0;
        for (std::size_t k = 0; k < i.buffer; ++k)
          at += shard_of(Plan::buckets[k].size, Plan::data_parallel_degree, dp_rank).size();
        group.reduce_scatter(mem.grads() + b.offset, mem.shard_grads() + at, b.size);
        break;
      }
      case opcode::all_gather:  // my chunk of the parameters -> [bucket] @ every replica
        group.all_gather(mem.params() + b.offset + c.begin, mem.params() + b.offset, b.size);
        break;
      default:
        fail(cat("instruction ", to_string(i.op), " is not a collective"),
             "only collectives reach the communication worker", "report this as a plait bug");
    }
  } else {
    fail(cat("instruction ", to_string(i.op), " names a bucket"), "the policy has no buckets",
         "report this as a plait bug");
  }
}

}  // namespace plait
