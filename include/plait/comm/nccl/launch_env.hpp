#pragma once
// The launch variables of an NCCL job started without MPI (docs/design.md §8): torchrun-style RANK,
// WORLD_SIZE, LOCAL_RANK (LOCAL_WORLD_SIZE where the launcher sets it), and NCCL_COMM_ID, the address at which rank 0
// opens NCCL's rendezvous and the others find it. This header includes no NCCL header: it is plain parsing, testable
// anywhere.
//
//   RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 NCCL_COMM_ID=node0:29600
//     ->  {.rank = 1, .world_size = 2, .local_rank = 1, .comm_id = "node0:29600"}

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../launch_env.hpp"

namespace plait {

/// Where this process sits in an NCCL job launched by variables. Invariants (checked by
/// parse_nccl_launch_env): rank < world_size; local_rank < local_world_size when that is known, and
/// local_rank < world_size; comm_id is "host:port" or
/// "[ipv6]:port" with a port in 1 .. 65535 when world_size > 1 (empty only when world_size == 1).
struct nccl_launch_env {
  std::size_t rank = 0;
  std::size_t world_size = 1;
  std::size_t local_rank = 0;  // this rank's GPU on its node, unless nccl_options::device says otherwise
  std::optional<std::size_t> local_world_size;  // LOCAL_WORLD_SIZE, when the launcher sets it: the GPUs a node needs
  std::string comm_id;                          // NCCL_COMM_ID
};

namespace detail {

// "host:port" or "[v6 address]:port": the port is after the last ':' and must be a number in 1 .. 65535.
inline void check_comm_id(std::string_view id) {
  const std::string fix =
      "set NCCL_COMM_ID=<rank 0's host>:<a free port>, the same on every rank, e.g. NCCL_COMM_ID=node0:29600 "
      "(not MASTER_PORT: torchrun's own store listens there)";
  const std::size_t colon = id.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == id.size())
    fail(cat("NCCL_COMM_ID='", id, "' is not host:port"),
         "NCCL's rank 0 listens at that address and the other ranks connect to it", fix);
  const std::size_t port = env_number("the port of NCCL_COMM_ID", id.substr(colon + 1), 65535);
  if (port == 0) fail(cat("NCCL_COMM_ID='", id, "' has port 0"), "rank 0 must listen on a known port", fix);
}

}  // namespace detail

/// True when the environment names an NCCL launch without MPI: NCCL_COMM_ID is set with RANK or
/// WORLD_SIZE (a program may then start from the launch variables, and over MPI otherwise).
template <EnvLookup Get>
bool has_nccl_launch_env(const Get& get) {
  return get("NCCL_COMM_ID") != nullptr && has_launch_env(get);
}

/// Reads and checks the variables of an NCCL launch from `get`. RANK and WORLD_SIZE are required;
/// LOCAL_RANK is required when WORLD_SIZE > 1 (0 otherwise); LOCAL_WORLD_SIZE is optional; NCCL_COMM_ID is required
/// when WORLD_SIZE > 1. Throws plait::error naming the variable and its value on anything missing or wrong.
template <EnvLookup Get>
nccl_launch_env parse_nccl_launch_env(const Get& get) {
  const auto required = [&](const char* name, std::string_view why) -> std::string_view {
    const char* v = get(name);
    if (v == nullptr)
      fail(
          cat(name, " is not set"), why,
          cat("export ", name,
              " for every process (RANK, WORLD_SIZE and LOCAL_RANK as torchrun does, NCCL_COMM_ID=<rank 0's host>:<port>), "
              "or launch with mpirun and build the nccl_comm from an mpi_comm"));
    return v;
  };
  using detail::max_ranks;
  nccl_launch_env env;
  env.world_size = detail::env_number(
      "WORLD_SIZE", required("WORLD_SIZE", "an NCCL rank must know how many ranks the job has"), max_ranks);
  env.rank = detail::env_number("RANK", required("RANK", "an NCCL rank must know its number in the job"), max_ranks);
  if (env.world_size == 0)
    fail("WORLD_SIZE=0", "a job has at least one process", "set WORLD_SIZE to the number of processes started");
  if (env.rank >= env.world_size)
    fail(cat("RANK=", env.rank, " with WORLD_SIZE=", env.world_size), "ranks are 0 .. WORLD_SIZE - 1",
         cat("number the processes 0 .. ", env.world_size - 1, " and export WORLD_SIZE to all"));
  if (const char* lws = get("LOCAL_WORLD_SIZE")) {
    env.local_world_size = detail::env_number("LOCAL_WORLD_SIZE", lws, max_ranks);
    if (*env.local_world_size == 0 || *env.local_world_size > env.world_size)
      fail(cat("LOCAL_WORLD_SIZE=", *env.local_world_size, " with WORLD_SIZE=", env.world_size),
           "a node runs at least one and at most WORLD_SIZE of the job's processes",
           "set LOCAL_WORLD_SIZE to the processes on this node");
  }
  if (const char* lr = get("LOCAL_RANK")) {
    env.local_rank = detail::env_number("LOCAL_RANK", lr, max_ranks);
    const std::size_t limit = env.local_world_size.value_or(env.world_size);
    if (env.local_rank >= limit)
      fail(cat("LOCAL_RANK=", env.local_rank, " with ",
               env.local_world_size ? "LOCAL_WORLD_SIZE=" : "WORLD_SIZE=", limit),
           "a process's number on its node is below the number of processes",
           cat("set LOCAL_RANK to 0 .. ", limit - 1));
  } else if (env.world_size > 1) {
    required("LOCAL_RANK", "with several processes, each must know which GPU of its node is its own");
  }
  if (const char* id = get("NCCL_COMM_ID")) {
    env.comm_id = id;
    detail::check_comm_id(env.comm_id);
  } else if (env.world_size > 1) {
    required("NCCL_COMM_ID", "without MPI, NCCL's ranks meet at the address NCCL_COMM_ID names, where rank 0 listens");
  }
  return env;
}

/// The same, from this process's environment.
inline nccl_launch_env nccl_launch_env_from_environment() {
  return parse_nccl_launch_env([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace plait
