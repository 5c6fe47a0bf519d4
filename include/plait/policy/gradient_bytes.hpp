#pragma once
// gradient_bytes<Plan>(d): the bytes of gradient that device d's training program hands to its
// data-parallel collectives in one step, read from the program itself: each bucket's all-reduce or
// reduce-scatter counts the bucket's floats, a whole-gradient all-reduce (a mesh) the trainable
// floats of the device's layers. Frozen layers (graph/frozen.hpp) count nothing: their buckets are
// empty and the mesh's all-reduce skips them.
//
//   static_assert(gradient_bytes<plan_of<replicate<2>, decltype(net)>>(0) == 4 * trainable_floats);

#include <cstddef>

#include "../graph/frozen.hpp"
#include "../program/instruction.hpp"
#include "policy.hpp"

namespace plait {

template <class Plan>
constexpr std::size_t gradient_bytes(std::size_t device) {
  using DL = typename Plan::device_layout;
  std::size_t floats = 0;
  for (const instruction& i : Plan::programs[device]) {
    if (i.peer != std::int16_t(collective_group::data_parallel)) continue;
    if (i.op != opcode::all_reduce && i.op != opcode::reduce_scatter) continue;
    if (i.buffer == whole_gradient) {
      const stage_range r = Plan::owned[device];
      if constexpr (any_frozen<DL>) floats += trainable_runs<DL>(r.first, r.last).floats();
      else  // the device's whole gradient, as device_memory plans it
        floats += (r.last == DL::layer_count ? DL::param_buffer_size : DL::param_offsets[r.last]) -
                  DL::param_offsets[r.first];
    } else if constexpr (Plan::buckets.size() > 0) {
      floats += Plan::buckets[i.buffer].size;
    }
  }
  return floats * sizeof(float);
}

}  // namespace plait
