#pragma once
// The torchrun-style launch variables (docs/design.md §8): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, read into one checked value. mpi_world compares them with what MPI
// reports; a bootstrap without MPI (NCCL's unique id over a TCP store) takes its rendezvous from
// them. This header includes no MPI header: it is plain parsing, testable without a launcher.
//
//   RANK=1 WORLD_SIZE=4 LOCAL_RANK=1 MASTER_ADDR=node0 MASTER_PORT=29500
//     ->  {.rank = 1, .world_size = 4, .local_rank = 1, .local_world_size = none, .master_addr = "node0", .master_port
//     = 29500}

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "../core/error.hpp"

namespace plait {

/// Where this process sits in a job launched with torchrun-style variables.
/// Invariants (checked by parse_launch_env): rank < world_size; local_rank < local_world_size when
/// that is known, and local_rank < world_size; master_port in 1 .. 65535 when world_size > 1.
struct launch_env {
  std::size_t rank = 0;
  std::size_t world_size = 1;
  std::size_t local_rank = 0;
  std::optional<std::size_t> local_world_size;  // LOCAL_WORLD_SIZE, when the launcher sets it
  std::string master_addr;                      // rendezvous host; empty only when world_size == 1
  std::uint16_t master_port = 0;                // rendezvous port; 0 only when world_size == 1
};

/// A source of environment variables: returns the value of `name`, or nullptr when it is unset.
template <class F>
concept EnvLookup = requires(const F& get, const char* name) {
  { get(name) } -> std::convertible_to<const char*>;
};

namespace detail {

inline constexpr std::size_t max_ranks = std::size_t{1} << 24;  // a bound for parsing, far above any job

inline std::size_t env_number(std::string_view name, std::string_view text, std::size_t max) {
  std::size_t value = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::result_out_of_range || ec != std::errc{} || ptr != end || value > max)
    fail(std::string(name) + "='" + std::string(text) + "' is not a number in 0 .. " + std::to_string(max),
         "the launch variables are non-negative decimal integers",
         "set " + std::string(name) + " to one (torchrun, srun wrappers and mpirun scripts export them per process)");
  return value;
}

}  // namespace detail

/// True when the environment names a launch: RANK or WORLD_SIZE is set.
template <EnvLookup Get>
bool has_launch_env(const Get& get) {
  return get("RANK") != nullptr || get("WORLD_SIZE") != nullptr;
}

/// Reads and checks the launch variables from `get`. RANK and WORLD_SIZE are required; LOCAL_RANK
/// is required when WORLD_SIZE > 1 (0 otherwise); LOCAL_WORLD_SIZE is optional; MASTER_ADDR and
/// MASTER_PORT are required when WORLD_SIZE > 1.
/// Throws plait::error naming the variable and its value on anything missing or inconsistent.
template <EnvLookup Get>
launch_env parse_launch_env(const Get& get) {
  const auto value = [&](const char* name) -> std::optional<std::string_view> {
    const char* v = get(name);
    if (v == nullptr) return std::nullopt;
    return std::string_view(v);
  };
  const auto required = [&](const char* name, std::string_view why) -> std::string_view {
    const auto v = value(name);
    if (!v)
      fail(std::string(name) + " is not set", why,
           std::string("export ") + name +
               " for every process (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, "
               "MASTER_PORT), or launch with mpirun and let MPI number the processes");
    return *v;
  };
  using detail::max_ranks;

  launch_env env;
  env.world_size = detail::env_number(
      "WORLD_SIZE", required("WORLD_SIZE", "a launched process must know how many processes the job has"), max_ranks);
  env.rank =
      detail::env_number("RANK", required("RANK", "a launched process must know its number in the job"), max_ranks);
  if (env.world_size == 0)
    fail("WORLD_SIZE=0", "a job has at least one process", "set WORLD_SIZE to the number of processes started");
  if (env.rank >= env.world_size)
    fail("RANK=" + std::to_string(env.rank) + " with WORLD_SIZE=" + std::to_string(env.world_size),
         "ranks are 0 .. WORLD_SIZE - 1",
         "number the processes 0 .. " + std::to_string(env.world_size - 1) + " and export WORLD_SIZE to all");

  if (const auto lws = value("LOCAL_WORLD_SIZE")) {
    env.local_world_size = detail::env_number("LOCAL_WORLD_SIZE", *lws, max_ranks);
    if (*env.local_world_size == 0 || *env.local_world_size > env.world_size)
      fail("LOCAL_WORLD_SIZE=" + std::to_string(*env.local_world_size) +
               " with WORLD_SIZE=" + std::to_string(env.world_size),
           "a node runs at least one and at most WORLD_SIZE of the job's processes",
           "set LOCAL_WORLD_SIZE to the processes on this node");
  }
  if (const auto lr = value("LOCAL_RANK")) {
    env.local_rank = detail::env_number("LOCAL_RANK", *lr, max_ranks);
  } else if (env.world_size > 1) {
    required("LOCAL_RANK", "with several processes, each must know which device of its node is its own");
  }
  const std::size_t local_limit = env.local_world_size.value_or(env.world_size);
  if (env.local_rank >= local_limit)
    fail("LOCAL_RANK=" + std::to_string(env.local_rank) + " with " +
             (env.local_world_size ? "LOCAL_WORLD_SIZE=" : "WORLD_SIZE=") + std::to_string(local_limit),
         "a process's number on its node is below the number of processes on the node",
         "set LOCAL_RANK to 0 .. " + std::to_string(local_limit - 1));

  if (env.world_size > 1) {
    const std::string_view why = "the processes of a job meet at MASTER_ADDR:MASTER_PORT";
    env.master_addr = std::string(required("MASTER_ADDR", why));
    if (env.master_addr.empty())
      fail("MASTER_ADDR is empty", why, "set MASTER_ADDR to the host name or address of rank 0's node");
    env.master_port =
        static_cast<std::uint16_t>(detail::env_number("MASTER_PORT", required("MASTER_PORT", why), 65535));
    if (env.master_port == 0) fail("MASTER_PORT=0", why, "set MASTER_PORT to a free port in 1 .. 65535, e.g. 29500");
  } else {
    if (const auto a = value("MASTER_ADDR")) env.master_addr = std::string(*a);
    if (const auto p = value("MASTER_PORT"))
      env.master_port = static_cast<std::uint16_t>(detail::env_number("MASTER_PORT", *p, 65535));
  }
  return env;
}

/// The same, from this process's environment.
inline launch_env launch_env_from_environment() {
  return parse_launch_env([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace plait
