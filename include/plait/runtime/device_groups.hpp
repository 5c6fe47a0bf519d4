#pragma once
// device_groups: how this process's devices of a mesh meet. Device d = (replica r, stage p, shard t)
// = r * I + p * T + t for inner groups of I devices and T-way tensor parallelism (innermost fastest).
// Its tensor group is the T devices of its stage (partition's exchanges), its pipeline group the
// I / T stages of its shard in its replica (messages): both inside this process. Its data-parallel
// group is the replicas of its (p, t): this process's replicas and, through `across`, those of the
// other processes (hierarchical_comm). Groups are the backend's (local_groups<Backend>).

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "../comm/hierarchical.hpp"
#include "../comm/processes.hpp"
#include "local_groups.hpp"

namespace plait {

template <class Backend, class Replica>
struct device_groups {
  using groups = local_groups<Backend>;
  using comm = typename groups::comm;

  std::vector<comm> tensor;                         // [local device]: its tensor group
  std::vector<comm> pipeline;                       // [local device]: its pipeline group
  std::vector<basic_hierarchical_comm<comm>> data;  // [local device]: its data-parallel group
  bool collectives_inline = false;  // the data-parallel collectives run on the compute threads (local_groups)

  /// `replicas`: this process's devices, the mesh's first..first + size - 1, whole inner groups of
  /// `inner` devices; `across`: per local device, its peers in the other processes (empty: none).
  /// `processes`: the job's processes, counted as sharing this machine's cores; `where`: which thread
  /// runs the data-parallel collectives (place_options::collectives); `turns`: how many of the devices
  /// take turns on one thread (a chunked pipeline schedule's stages on their device: runtime/run_together.hpp).
  void connect(std::span<const Replica> replicas, std::size_t first, std::size_t inner, std::size_t tp,
               std::span<const std::unique_ptr<process_comm>> across, std::size_t processes,
               collectives_on where = collectives_on::automatic, std::size_t turns = 1) {
    const std::size_t local = replicas.size(), mine = local / inner, r0 = first / inner;
    // The compute threads of every device that may share this machine: those taking turns count once.
    // (Counted per logical device, ZB-V's 4 stages on 2 one-thread devices would look like 4 threads on
    // 2 cores, and every stage waiting for a message would sleep: a wake-up per dependency, 30-50 us.)
    std::size_t threads = 0;
    for (const Replica& r : replicas) threads += device_threads(r.ctx());
    threads = threads / std::max<std::size_t>(turns, 1) * std::max<std::size_t>(processes, 1);
    collectives_inline = groups::collectives_inline(where, threads, processes);
    struct member {
      std::size_t group, rank;
    };
    // The groups of one kind: member_of(l) names local device l's group and its rank there.
    const auto join = [&](std::size_t count, std::size_t size, auto member_of, std::vector<comm>& comms) {
      using context = typename Replica::context;
      std::vector<std::vector<const context*>> members(count, std::vector<const context*>(size));
      for (std::size_t l = 0; l < local; ++l) members[member_of(l).group][member_of(l).rank] = &replicas[l].ctx();
      const std::size_t base = groups_.size();
      for (const auto& m : members) groups_.push_back(groups::make(m, threads, collectives_inline));
      for (std::size_t l = 0; l < local; ++l)
        comms.push_back(groups_[base + member_of(l).group]->comm(member_of(l).rank));
    };
    join(local / tp, tp, [&](std::size_t l) { return member{l / tp, l % tp}; }, tensor);
    join(
        mine * tp, inner / tp,
        [&](std::size_t l) {
          const std::size_t d = first + l;
          return member{(d / inner - r0) * tp + d % tp, d % inner / tp};
        },
        pipeline);
    std::vector<comm> replicas_here;  // [local device]: its data-parallel group in this process
    join(
        inner, mine,
        [&](std::size_t l) {
          const std::size_t d = first + l;
          return member{d % inner, d / inner - r0};
        },
        replicas_here);
    for (std::size_t l = 0; l < local; ++l)
      data.emplace_back(replicas_here[l], across.empty() ? nullptr : across[l].get());
  }

 private:
  template <class Context>
  static std::size_t device_threads(const Context& c) {
    if constexpr (requires { c.threads; }) return c.threads;
    else return 1;  // a CUDA device: one host thread drives it
  }

  std::vector<std::unique_ptr<typename groups::group>> groups_;  // on the heap: the handles point into them
};

}  // namespace plait
