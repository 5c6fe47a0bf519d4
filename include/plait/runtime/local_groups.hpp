#pragma once
// local_groups<Backend>: the communicator the runtime builds between the logical devices of one
// process, chosen by the backend's type. Host devices meet in a local_group (threads sharing memory,
// comm/host/local_group.hpp); CUDA devices in a cuda_local_group (their streams ordered by events,
// comm/cuda/local_group.hpp), whose specialisation is in cuda_local_groups.hpp, included by plait/cuda.hpp.
//
//   local_groups<B>::group                      the shared state of one group
//   local_groups<B>::comm                       one member's handle (a Communicator)
//   local_groups<B>::make(members, threads, inline_collectives)
//                                               a group of the given members' contexts, in rank order;
//                                               `threads`: the compute threads of every device that
//                                               may run on this machine's cores at once
//   local_groups<B>::collectives_inline(where, threads, processes)
//                                               whether the devices' compute threads run their
//                                               data-parallel collectives (else a worker each)

#include <memory>
#include <span>

#include "../backend/traits.hpp"
#include "../comm/host/cores.hpp"
#include "../comm/host/local_comm.hpp"
#include "../core/meta.hpp"
#include "options.hpp"

namespace plait {

template <class Backend>
struct local_groups {
  static_assert(
      dependent_false<Backend>,
      "plait: no local communicator for this backend. The runtime connects a process's devices through "
      "the backend's local group. Fix: place on host_devices(...), or include plait/cuda.hpp for CUDA devices.");
};

template <class System>
struct local_groups<host<System>> {
  using group = local_group;
  using comm = local_comm;
  /// Whether the data-parallel collectives run on the devices' compute threads rather than on a
  /// communication worker each. A worker overlaps a bucket's all-reduce with the rest of backward where
  /// a core is free for it; where the compute threads of the job's devices on this machine (`threads`,
  /// counting every process as sharing it) fill the cores, the worker takes its core from a device's
  /// compute, and the all-reduce, time-sliced against the GEMMs, meets its peer late. Measured on 2
  /// cores, replicate<2> of one thread each: steps of 27.0-27.3 ms with the collectives on the compute
  /// threads, 27.1-30.7 ms with workers. Across processes the worker stays: there it waits on the
  /// network more than it computes.
  static bool collectives_inline(collectives_on where, std::size_t threads, std::size_t processes) {
    if (where != collectives_on::automatic) return where == collectives_on::compute;
    return processes <= 1 && threads >= available_cores();
  }

  // Where every compute thread has a core of its own, a stage waiting for a message spins instead of
  // sleeping (local_options::spin_message): nothing else wants the core, and a wake-up would delay
  // the schedule's dependency loop. Otherwise it yields the core soon, as collectives do. Collectives
  // on the compute threads, each with a core, spin as long at their entry: no worker waits for the core.
  static std::unique_ptr<group> make(std::span<const host_context<System>* const> members, std::size_t threads,
                                     bool inline_collectives) {
    local_options options;
    if (threads <= available_cores()) {
      options.spin_message = local_options::message_spin_dedicated;
      if (inline_collectives) options.spin = local_options::message_spin_dedicated;
    }
    return std::make_unique<local_group>(members.size(), options);
  }
};

}  // namespace plait
