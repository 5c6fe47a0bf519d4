#pragma once
// Starting and ending MPI for a plait job (docs/design.md §8): mpi_world initialises MPI with the thread
// support plait's runtime needs, says where this process sits (rank, size, rank on its node), checks
// torchrun-style variables against what MPI reports, and finalises. expect_world_size is the check
// that place(...) makes of the process count against a policy's mesh.
//
//   mpiexec -np 4 prog      ->  world.rank() = 0 .. 3, world.size() = 4,
//                               world.local_rank() = 0 .. (processes on this node) - 1

#include <mpi.h>

#include <concepts>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../launch_env.hpp"
#include "error.hpp"

namespace plait {

/// MPI's thread-support levels, in increasing order (MPI_THREAD_SINGLE .. MPI_THREAD_MULTIPLE).
enum class mpi_threads : int {
  single = MPI_THREAD_SINGLE,
  funneled = MPI_THREAD_FUNNELED,
  serialized = MPI_THREAD_SERIALIZED,
  multiple = MPI_THREAD_MULTIPLE,
};

inline const char* name(mpi_threads t) {
  switch (t) {
    case mpi_threads::single: return "MPI_THREAD_SINGLE";
    case mpi_threads::funneled: return "MPI_THREAD_FUNNELED";
    case mpi_threads::serialized: return "MPI_THREAD_SERIALIZED";
    case mpi_threads::multiple: return "MPI_THREAD_MULTIPLE";
  }
  return "an unknown MPI thread level";
}

struct mpi_world_options {
  // plait's runtime posts collectives from one communication thread per device, and pipelines send
  // from compute threads, at the same time: several threads call MPI concurrently.
  mpi_threads threads = mpi_threads::multiple;
  // When RANK / WORLD_SIZE are set, they must agree with MPI's numbering (a job started by torchrun
  // rather than mpirun gives each process an MPI world of one, which would silently train alone).
  bool check_launch_env = true;
};

/// When RANK or WORLD_SIZE is set, checks that it agrees with the rank and size MPI gives this process;
/// throws plait::error otherwise. Only these two are read: with MPI numbering the processes, the
/// rendezvous variables are not needed. mpi_world calls it with the process environment.
template <EnvLookup Get>
void expect_launch_env_matches(const Get& get, std::size_t rank, std::size_t size) {
  const char* const env_rank = get("RANK");
  const char* const env_size = get("WORLD_SIZE");
  if (env_rank == nullptr && env_size == nullptr) return;
  const std::size_t r = env_rank ? detail::env_number("RANK", env_rank, detail::max_ranks) : rank;
  const std::size_t n = env_size ? detail::env_number("WORLD_SIZE", env_size, detail::max_ranks) : size;
  if (r == rank && n == size) return;
  std::string seen;
  if (env_rank) seen.append("RANK=").append(std::to_string(r));
  if (env_rank && env_size) seen.append(" ");
  if (env_size) seen.append("WORLD_SIZE=").append(std::to_string(n));
  const std::string mpi = "MPI numbers this process " + std::to_string(rank) + " of " + std::to_string(size);
  if (size == 1 && n > 1)
    fail(
        seen + " is set, but " + mpi,
        "the processes were not started by an MPI launcher, so each one is an MPI world of its own and would train alone",
        "start the job with mpiexec -np " + std::to_string(n) +
            " (or srun under Slurm), or pass mpi_world_options{.check_launch_env = false} if the variables mean something else here");
  fail(seen + " is set, but " + mpi, "the launch variables and MPI must agree on who is who",
       "unset RANK and WORLD_SIZE when launching with mpiexec or srun (MPI numbers the processes), or pass "
       "mpi_world_options{.check_launch_env = false}");
}

/// MPI for the lifetime of this object, in one process. Requirements: constructed once per process,
/// on the thread that will destroy it, before any plait::mpi_comm. If MPI was already initialised
/// (by the application), the world only checks its thread level and leaves finalising to its owner.
/// Destroyed normally, it finalises MPI (collective: every rank must get there). When its constructor
/// fails after MPI started, or it is destroyed by an exception (stack unwinding), it does not
/// finalise: MPI_Finalize would wait for peers that may be waiting for this rank. Catch the error with
/// run_or_abort (comm/mpi/error.hpp), which ends the job with MPI_Abort.
class mpi_world {
 public:
  mpi_world() : mpi_world(nullptr, nullptr) {}
  explicit mpi_world(mpi_world_options options) : mpi_world(nullptr, nullptr, options) {}
  mpi_world(int* argc, char*** argv, mpi_world_options options = {}) : unwinding_(std::uncaught_exceptions()) {
    using mpi_detail::check;
    int initialized = 0, finalized = 0, provided = 0;
    check(MPI_Finalized(&finalized), "MPI_Finalized");
    if (finalized)
      fail("an mpi_world was created after MPI_Finalize", "MPI cannot be started twice in one process",
           "create one mpi_world at the start of main and keep it until the end");
    check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (initialized) {
      check(MPI_Query_thread(&provided), "MPI_Query_thread");
    } else {
      check(MPI_Init_thread(argc, argv, static_cast<int>(options.threads), &provided), "MPI_Init_thread");
      owner_ = true;
    }
    threads_ = static_cast<mpi_threads>(provided);
    if (provided < static_cast<int>(options.threads)) {
      const std::string why =
          std::string("MPI provides ") + name(threads_) + ", but plait needs " + name(options.threads) +
          ": its runtime calls MPI from several threads at once (a communication thread per device)";
      fail(std::string("MPI_Init_thread gave less thread support than asked for"), why,
           "use an MPI built with thread support (Debian's Open MPI provides MPI_THREAD_MULTIPLE), or, if the "
           "application initialised MPI itself, call MPI_Init_thread with MPI_THREAD_MULTIPLE");
    }
    try {
      int rank = 0, size = 0, local_rank = 0, local_size = 0;
      check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
      check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
      check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_),
            "MPI_Comm_split_type", [] { return std::string("grouping the processes of each node"); });
      check(MPI_Comm_rank(node_, &local_rank), "MPI_Comm_rank");
      check(MPI_Comm_size(node_, &local_size), "MPI_Comm_size");
      rank_ = static_cast<std::size_t>(rank);
      size_ = static_cast<std::size_t>(size);
      local_rank_ = static_cast<std::size_t>(local_rank);
      local_size_ = static_cast<std::size_t>(local_size);
      if (options.check_launch_env)
        expect_launch_env_matches([](const char* n) -> const char* { return std::getenv(n); }, rank_, size_);
    } catch (...) {
      if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
      throw;
    }
  }

  mpi_world(const mpi_world&) = delete;
  mpi_world& operator=(const mpi_world&) = delete;

  ~mpi_world() {
    if (std::uncaught_exceptions() > unwinding_) return;  // see the class comment: no finalize while failing
    int finalized = 0;
    if (MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return;
    if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
    if (owner_) MPI_Finalize();
  }

  std::size_t rank() const { return rank_; }              // in MPI_COMM_WORLD
  std::size_t size() const { return size_; }              // processes in the job
  std::size_t local_rank() const { return local_rank_; }  // among the processes sharing this node's memory
  std::size_t local_size() const { return local_size_; }  // processes on this node
  mpi_threads threads() const { return threads_; }        // the thread support MPI provides
  MPI_Comm comm() const { return MPI_COMM_WORLD; }
  MPI_Comm node() const { return node_; }  // the processes of this node (MPI_COMM_TYPE_SHARED)

 private:
  int unwinding_ = 0;  // uncaught exceptions when constructed
  bool owner_ = false;
  mpi_threads threads_ = mpi_threads::single;
  std::size_t rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  MPI_Comm node_ = MPI_COMM_NULL;
};

/// Something that knows how many processes (or ranks) take part: mpi_world, mpi_comm.
template <class W>
concept SizedWorld = requires(const W& w) {
  { w.size() } -> std::convertible_to<std::size_t>;
  { w.rank() } -> std::convertible_to<std::size_t>;
};

/// Fails, on every rank alike (each rank decides from the size alone, without communicating), when
/// the job does not have exactly the `needed` processes that `what` (a policy's mesh) needs.
template <SizedWorld World>
void expect_world_size(const World& world, std::size_t needed, std::string_view what = "the policy's device mesh") {
  const std::size_t have = world.size();
  if (have == needed) return;
  const std::string need = std::to_string(needed), got = std::to_string(have);
  if (needed == 0)
    fail(std::string(what) + " needs 0 processes (on rank " + std::to_string(world.rank()) + ")",
         "a mesh has at least one device", "pass the number of processes the mesh spans");
  fail(std::string(what) + " needs " + need + " processes, but this job has " + got + " (on rank " +
           std::to_string(world.rank()) + ")",
       "each process holds its share of the mesh, so the process count is fixed by the policy",
       "launch with mpiexec -np " + need + " (or srun -n " + need + "), or choose a policy whose mesh spans " + got +
           " processes");
}

static_assert(SizedWorld<mpi_world>);

}  // namespace plait
