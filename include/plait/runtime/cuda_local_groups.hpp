#pragma once
// local_groups<cuda> (runtime/local_groups.hpp): the logical CUDA devices of a process meet in a
// cuda_local_group, each member ordered on its own context's stream. Included by plait/cuda.hpp.

#include <memory>
#include <span>
#include <vector>

#include "../backend/cuda/traits.hpp"
#include "../comm/cuda/local_comm.hpp"
#include "../comm/cuda/local_group.hpp"
#include "local_groups.hpp"

namespace plait {

template <>
struct local_groups<cuda> {
  using group = cuda_local_group;
  using comm = cuda_local_comm;
  /// A CUDA device's collectives are enqueued on its stream by a worker thread: the host thread does not compute.
  static bool collectives_inline(collectives_on, std::size_t, std::size_t) { return false; }
  static std::unique_ptr<group> make(std::span<const cuda_context* const> members, std::size_t /*threads*/,
                                     bool /*inline_collectives*/) {
    std::vector<cuda_local_rank> ranks;  // [members] @ host: each member's GPU and stream
    for (const cuda_context* c : members) ranks.push_back({c->device, c->stream()});
    return std::make_unique<cuda_local_group>(std::move(ranks));
  }
};

}  // namespace plait
