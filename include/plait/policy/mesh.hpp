#pragma once
// replicate<D, Inner>: a D x I device mesh (I = Inner::device_count). Device d is rank d % I of
// inner group d / I, which runs Inner's program for that rank (a pipeline's stage, a partition's
// shard) on the group's share of the batch: the innermost policy varies fastest over the device
// list, so put the most communication-hungry one innermost. The data-parallel groups are the
// devices of equal inner rank across the D replicas: after the inner program's backward each
// device's gradient is all-reduced over its data-parallel group, then every device steps.
//
//   replicate<2, pipeline<2, microbatches<4>>>   4 devices: (replica 0: stages 0, 1), (replica 1: stages 0, 1)
//   replicate<2, partition<2>>                   4 devices: (replica 0: shards 0, 1), (replica 1: shards 0, 1)
//
// Each group has its own communicator (the runtime makes them from the programs' collective_group).
// Checked when the program compiles: the composed programs of all devices together (program/verify.hpp:
// every message and every collective of every group, in order, with no deadlock).
//
// Requirements: Inner is a policy without data parallelism of its own (pipeline<...>, partition<N>),
// given first, with no replicate options beside it (no buckets, no shard_optimizer: the data-parallel
// all-reduce is over each device's whole gradient).

#include <array>
#include <cstddef>

#include "../program/instruction.hpp"
#include "../program/verify.hpp"
#include "policy.hpp"
#include "replicate.hpp"

namespace plait {

template <std::size_t N, Policy Inner, class... Options>
struct replicate<N, Inner, Options...> {
  static_assert(
      N >= 1,
      "plait: replicate<0, Inner> has no replicas. A mesh needs at least one. Fix: use replicate<D, Inner> with D >= 1.");
  static_assert(sizeof...(Options) == 0,
                "plait: replicate<D, Inner, Options...> is given options beside an inner policy. A mesh all-reduces "
                "each device's whole gradient; buckets and shard_optimizer apply to replicate<N> alone. Fix: remove "
                "the options, or drop the inner policy.");
  static_assert(
      [] {
        if constexpr (requires { Inner::spare_slot_count; }) return Inner::spare_slot_count == 0;
        else return true;
      }(),
      "plait: replicate<D, pipeline<..., spare_slots<K>>> would plan spare activation slots that nothing uses. A "
      "mesh's pipeline stages copy the messages they receive, and spare slots serve only messages read in place. "
      "Fix: remove spare_slots from the inner pipeline, or train the pipeline without replicate.");
  static_assert(data_parallel_degree_of<Inner> == 1,
                "plait: replicate<D, Inner> is given an inner policy with data parallelism of its own. Nesting "
                "replicate in replicate is one replicate of the product. Fix: write replicate<D * D2, ...>.");

  static constexpr std::size_t inner_device_count = Inner::device_count;
  static constexpr std::size_t device_count = N * inner_device_count;
  static constexpr std::size_t data_parallel_degree = N;
  static constexpr std::size_t microbatch_count = microbatch_count_of<Inner>;
  static constexpr std::size_t tensor_parallel_degree = tensor_parallel_degree_of<Inner>;
  static constexpr bool uneven = [] {
    if constexpr (requires { Inner::uneven; }) return bool{Inner::uneven};
    else return false;
  }();
  static constexpr const char* name = "replicate<D, Inner>";
  using inner = Inner;

  template <RootedGraph G>
  using device_graph = typename device_graph_of<Inner, G>::type;

  template <RootedGraph G>
  static constexpr auto stages = Inner::template stages<G>;

  /// Per device of the mesh, what its inner rank has (`inner[rank]`).
  template <class T, std::size_t I>
  static constexpr std::array<T, device_count> by_inner_rank(const std::array<T, I>& inner) {
    std::array<T, device_count> out{};
    for (std::size_t d = 0; d < device_count; ++d) out[d] = inner[d % inner_device_count];
    return out;
  }

  template <RootedGraph G>
  static constexpr auto owned = by_inner_rank(Inner::template owned<G>);

  /// The devices place(...) takes, and the one each logical device runs on: an inner pipeline whose
  /// devices run several stages each (chunked schedules) has fewer devices than logical devices.
  static constexpr std::size_t physical_device_count = [] {
    if constexpr (requires { Inner::physical_device_count; }) return N * Inner::physical_device_count;
    else return device_count;
  }();
  static constexpr std::size_t device_of(std::size_t d) {
    if constexpr (requires { Inner::physical_device_count; })
      return d / inner_device_count * Inner::physical_device_count + Inner::device_of(d % inner_device_count);
    else return d;
  }
  /// Each logical device's places in its device's order: its inner rank's (the data-parallel
  /// collective the mesh adds takes no turn).
  template <RootedGraph G>
    requires requires { Inner::template turn_positions<G>; }
  static constexpr auto turn_positions = by_inner_rank(Inner::template turn_positions<G>);

  /// Device d's replica: which share of the batch it trains on.
  template <RootedGraph G>
  static constexpr std::size_t replica_of(std::size_t d) {
    return d / inner_device_count;
  }

  /// The inner program of the device's rank, with the data-parallel all-reduce of its gradient
  /// before the optimizer step.
  template <RootedGraph G>
  static constexpr auto composed = [] {
    constexpr auto& inner_programs = Inner::template programs<G>;
    constexpr std::size_t L = inner_programs[0].size() + 1;
    std::array<program<L>, device_count> all{};
    for (std::size_t d = 0; d < device_count; ++d) {
      std::size_t at = 0;
      for (const instruction& i : inner_programs[d % inner_device_count]) {
        if (i.op == opcode::optimizer_step && N > 1)
          all[d][at++] = collective(opcode::all_reduce, collective_group::data_parallel, whole_gradient);
        all[d][at++] = i;
      }
      while (at < L) all[d][at++] = {.op = opcode::nop};
    }
    return all;
  }();

  /// The composed programs verified together: a wrong composition does not compile.
  template <RootedGraph G>
  static constexpr verdict check = verify_mesh<inner_device_count, tensor_parallel_degree>(composed<G>);

  template <RootedGraph G>
  static constexpr auto programs = [] {
    static_assert(check<G>.kind == verdict::ok,
                  "plait: the composed programs of replicate<D, Inner> do not verify: a message or a collective "
                  "of some group has no match, or the devices could wait on each other forever. The inner "
                  "policy's programs are combined wrongly. Fix: report this as a plait bug, with the policy.");
    return composed<G>;
  }();

  /// Device d's blocks of the whole model's parameters (partition inside): its inner rank's.
  template <RootedGraph G>
    requires requires { Inner::template param_blocks<G>; }
  static constexpr auto param_blocks = by_inner_rank(Inner::template param_blocks<G>);
};

}  // namespace plait
