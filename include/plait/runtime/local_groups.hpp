#pragma once
// local_groups<Backend>: the communicator the runtime builds between the logical devices of one
// process, chosen by the backend's type. Host devices meet in a local_group (threads sharing memory,
// comm/host/local_group.hpp); CUDA devices in a cuda_local_group (their streams ordered by events,
// comm/cuda/local_group.hpp), whose specialisation is in cuda_local_groups.hpp, included by plait/cuda.hpp.
//
//   local_groups<B>::group                      the shared state of one group
//   local_groups<B>::comm                       one member's handle (a Communicator)
//   local_groups<B>::make(members)              a group of the given members' contexts, in rank order

#include <memory>
#include <span>

#include "../backend/traits.hpp"
#include "../comm/host/local_comm.hpp"
#include "../core/meta.hpp"

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
  static std::unique_ptr<group> make(std::span<const host_context<System>* const> members) {
    return std::make_unique<local_group>(members.size());
  }
};

}  // namespace plait
