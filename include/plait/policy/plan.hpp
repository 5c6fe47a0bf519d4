#pragma once
// plan_of<Policy, G>: everything the runtime reads from a policy, for one graph, in one place.
//
// A policy states what it is (degrees, options) and generates its stages, owned layers and programs;
// the plan gathers those, fills in what a policy leaves out with its default (no data or tensor
// parallelism, one micro-batch, even micro-batches, no buckets, no sharded optimizer, the graph
// itself on every device), and derives what follows from them: each device's replica, activation
// slots and optimizer shard, the inference programs, whether anything communicates, the planned
// timeline and its figures. Every member is constexpr; the runtime (runtime/) reads only the plan.
//
//   using plan = plan_of<replicate<2, pipeline<2, microbatches<4>>>, decltype(net)>;
//   static_assert(plan::device_count == 4 && plan::slots[0] == 2);
//
// Requirements: Policy is a policy for G (PolicyFor<Policy, G>: stages<G>, owned<G>, programs<G>).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/shard.hpp"
#include "../graph/layout.hpp"
#include "../program/inference.hpp"
#include "../program/instruction.hpp"
#include "../program/timeline.hpp"
#include "../program/turns.hpp"
#include "../program/verify.hpp"
#include "buckets.hpp"
#include "policy.hpp"
#include "stage_costs.hpp"

namespace plait {

template <class P, RootedGraph G>
  requires PolicyFor<P, G>
struct plan_of {
  using policy = P;
  using graph = G;
  using device_graph = typename device_graph_of<P, G>::type;  // what each device runs (partition: split layers)
  using layout = graph_layout<G>;
  using device_layout = graph_layout<device_graph>;

  static constexpr const char* name = P::name;
  /// The pipeline schedule's name (gpipe, one_f_one_b, ...), or "" for a policy without one.
  static constexpr const char* schedule_name = [] {
    if constexpr (requires { P::schedule::name; }) return P::schedule::name;
    else return "";
  }();
  static constexpr std::size_t device_count = P::device_count;
  static constexpr std::size_t data_parallel_degree = data_parallel_degree_of<P>;
  static constexpr std::size_t tensor_parallel_degree = tensor_parallel_degree_of<P>;
  static constexpr std::size_t microbatch_count = microbatch_count_of<P>;
  /// Devices of one replica: the mesh is data_parallel_degree x inner_count, and an inner group is
  /// (inner_count / tensor_parallel_degree) pipeline stages x tensor_parallel_degree shards.
  static constexpr std::size_t inner_count = device_count / data_parallel_degree;
  /// A batch that the micro-batch count does not divide is split as evenly as possible (else refused).
  static constexpr bool uneven = [] {
    if constexpr (requires { P::uneven; }) return bool{P::uneven};
    else return false;
  }();
  /// Optimizer state sharded over the replicas (replicate's shard_optimizer, ZeRO stage 1).
  static constexpr bool sharded = [] {
    if constexpr (requires { P::sharded; }) return bool{P::sharded};
    else return false;
  }();

  /// Stage s runs the device graph's layers [stages[s].first, stages[s].last); device d holds owned[d].
  static constexpr auto stages = P::template stages<G>;
  static constexpr auto owned = P::template owned<G>;
  /// Each device's training program.
  static constexpr auto programs = P::template programs<G>;
  static constexpr std::size_t program_length = programs[0].size();

  /// The data-parallel gradient buckets (replicate<N>), none elsewhere.
  static constexpr auto buckets = [] {
    if constexpr (requires { P::template bucket_list<G>; }) return P::template bucket_list<G>;
    else return std::array<bucket, 0>{};
  }();
  /// Each device's blocks of the whole model's parameters (tensor parallelism), else unused.
  static constexpr bool has_param_blocks = requires { P::template param_blocks<G>; };
  static constexpr auto param_blocks = [] {
    if constexpr (has_param_blocks) return P::template param_blocks<G>;
    else return std::array<int, 0>{};
  }();

  /// Device d's replica: which share of a batch it works on.
  static constexpr auto replica = [] {
    std::array<std::size_t, device_count> r{};
    for (std::size_t d = 0; d < device_count; ++d) r[d] = d / inner_count;
    return r;
  }();
  /// Whether device d answers for its tensor group (counts the loss, hands predictions over).
  static constexpr bool group_leader(std::size_t d) { return d % tensor_parallel_degree == 0; }

  /// Activation slots a policy plans beyond each device's peak in flight (pipeline's spare_slots<K>).
  static constexpr std::size_t spare_slots = [] {
    if constexpr (requires { P::spare_slot_count; }) return std::size_t{P::spare_slot_count};
    else return std::size_t{0};
  }();
  /// Micro-batches of activations device d keeps at once (at least 1, and the spare slots): its
  /// activation slots.
  static constexpr auto slots = [] {
    std::array<std::size_t, device_count> s{};
    for (std::size_t d = 0; d < device_count; ++d)
      s[d] = planned_slots(peak_inflight(programs[d]), microbatch_count, spare_slots);
    return s;
  }();
  /// The devices place(...) takes: fewer than device_count where each runs several logical devices
  /// (the stages of a chunked pipeline schedule, which take turns on it: program/turns.hpp).
  static constexpr std::size_t physical_device_count = [] {
    if constexpr (requires { P::physical_device_count; }) return std::size_t{P::physical_device_count};
    else return device_count;
  }();
  static constexpr bool takes_turns = physical_device_count < device_count;
  /// The device logical device d runs on.
  static constexpr auto device_of = [] {
    std::array<std::size_t, device_count> m{};
    for (std::size_t d = 0; d < device_count; ++d) {
      if constexpr (takes_turns) m[d] = P::device_of(d);
      else m[d] = d;
    }
    return m;
  }();
  /// Where instruction j of logical device d's program (counting neither nops nor data-parallel
  /// collectives) sits in its device's order; unused without turns.
  static constexpr auto turn_positions = [] {
    if constexpr (takes_turns) return P::template turn_positions<G>;
    else return 0;
  }();

  /// Where logical devices take turns on a device: each device's order of their training programs
  /// (program/turns.hpp: order[p][n] = (logical device, pc)), and the logical devices on each device.
  static constexpr auto turn_order = [] {
    if constexpr (takes_turns) return turns_of<physical_device_count>(programs, turn_positions, device_of);
    else return 0;
  }();
  static constexpr std::size_t turns_per_device = device_count / physical_device_count;
  static constexpr auto turn_members = [] {
    std::array<std::array<std::size_t, turns_per_device>, physical_device_count> m{};
    std::array<std::size_t, physical_device_count> n{};
    for (std::size_t d = 0; d < device_count; ++d) m[device_of[d]][n[device_of[d]]++] = d;
    return m;
  }();
  static_assert(!takes_turns || device_count % physical_device_count == 0,
                "plait: a policy runs different numbers of logical devices on its devices. Fix: report this as a "
                "plait bug, with the policy.");

  /// How receivers read pipeline messages: in place, in the sender's memory, only where the policy's
  /// verification proved its schedule for it (policy/pipeline.hpp); else copied.
  static constexpr message_reads reads = [] {
    if constexpr (requires { P::reads; }) return message_reads{P::reads};
    else return message_reads{};
  }();
  /// Whether a device's program splits backwards into B and W (zero-bubble schedules): its memory then
  /// keeps each layer's output gradient per slot, from B to W.
  static constexpr bool splits_backward = plait::splits_backward(programs);
  /// Floats of reduced gradient device d keeps for its optimizer shard (0 without sharding).
  static constexpr auto shard_floats = [] {
    std::array<std::size_t, device_count> n{};
    if constexpr (sharded)
      for (std::size_t d = 0; d < device_count; ++d)
        for (const bucket& b : buckets) n[d] += shard_of(b.size, data_parallel_degree, replica[d]).size();
    return n;
  }();

  /// Whether any program holds a collective or a message.
  static constexpr bool communicates = [] {
    for (const auto& p : programs)
      for (const instruction& i : p)
        if (communicates_op(i.op)) return true;
    return false;
  }();

  /// Each device's inference program (program/inference.hpp): the forward part of its training
  /// program, with gather after the forward that ends the graph on each group's leader.
  static constexpr auto inference_programs = [] {
    std::array<program<program_length>, device_count> out{};
    for (std::size_t d = 0; d < device_count; ++d) {
      const bool last = owned[d].last == device_layout::layer_count;
      out[d] = inference_program(
          programs[d], [](std::size_t s) { return stages[s].last == device_layout::layer_count; },
          last && group_leader(d));
    }
    return out;
  }();
  static_assert(verify_mesh<inner_count, tensor_parallel_degree>(inference_programs).kind == verdict::ok,
                "plait: the inference programs of this policy do not verify: a forward message or exchange has no "
                "match, or the devices could wait on each other forever. Fix: report this as a plait bug, with the "
                "policy and the graph.");
  /// Where logical devices take turns: each device's order of their inference programs (the training
  /// order's forward part: it needs no more of any device than training does).
  static constexpr auto inference_turn_order = [] {
    if constexpr (takes_turns) return inference_order(turn_order, inference_programs);
    else return 0;
  }();

  /// What each stage's forward, backward input part and weight part cost (policy/stage_costs.hpp).
  static constexpr auto stage_cost_table = stage_costs<device_layout>(stages);
  /// The planned training step: each computing instruction takes its stage's cost, messages and
  /// collectives only wait (program/timeline.hpp).
  static constexpr auto planned_timeline = [] {
    constexpr auto cost = [](std::size_t, const instruction& i) { return stage_cost_table[i.stage].of(i.op); };
    if constexpr (takes_turns)  // stages taking turns on their devices (program/turns.hpp)
      return plan_turn_timeline(turn_order, slots, cost, reads);
    else return plan_mesh_timeline_by<inner_count, tensor_parallel_degree>(programs, cost);
  }();
  /// The idle share of a planned step, averaged over devices.
  static constexpr double bubble_fraction = planned_timeline.bubble_fraction();
  /// Micro-batches of activations each device holds at most at once (its slots).
  static constexpr auto peak_inflight_microbatches = slots;
};

}  // namespace plait
