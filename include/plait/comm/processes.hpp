#pragma once
// The processes of a job as the runtime sees them (docs/design.md §8). A policy's mesh may span processes
// (`place<replicate<2>>(net, across_processes(world, host_devices(1)))`, plait/mpi.hpp): each process
// then runs its own share of the mesh's devices, and the groups that cross processes talk through a
// communicator between processes. The host core names no transport: it holds such a communicator
// behind process_comm (one virtual call per collective, never per element), and asks a process_set,
// which the transport's header provides (mpi_processes in comm/mpi/processes.hpp), for new ones.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "../backend/host/backend.hpp"
#include "../backend/traits.hpp"  // device_binding
#include "../core/config.hpp"
#include "../core/error.hpp"
#include "communicator.hpp"

namespace plait {

/// What each process states about itself at start-up; every process of a job must state the same.
struct run_identity {
  std::uint64_t signature = 0;        // the graph's (and policy's) signature: a 64-bit hash chosen by the caller
  std::uint64_t parameter_count = 0;  // parameters of the whole model
  std::uint64_t version_major = PLAIT_VERSION_MAJOR;
  std::uint64_t version_minor = PLAIT_VERSION_MINOR;
  std::uint64_t version_patch = PLAIT_VERSION_PATCH;
  std::uint64_t devices_per_process = 0;  // the logical devices each process runs (0: not stated)
  friend bool operator==(const run_identity&, const run_identity&) = default;
};

/// A communicator between processes, as the runtime holds it. Requirements and meaning: those of
/// the Communicator concept (comm/communicator.hpp), for host buffers; every call completes or throws a
/// plait::error (a peer that never comes is a deadline, never a hang).
class process_comm {
 public:
  virtual ~process_comm() = default;
  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;
  virtual void all_reduce(float* buf, std::size_t n) = 0;                       // [n] @ every rank: the sum
  virtual void reduce_scatter(const float* in, float* out, std::size_t n) = 0;  // out: my chunk of the sum
  virtual void all_gather(const float* in, float* out, std::size_t n) = 0;      // in: my chunk; out: [n]
  virtual void broadcast(float* buf, std::size_t n, std::size_t root) = 0;      // [n] <- root's
  virtual void barrier() = 0;
  virtual void send(const float* buf, std::size_t n, std::size_t peer) = 0;
  virtual void recv(float* buf, std::size_t n, std::size_t peer) = 0;
  virtual std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) = 0;
  virtual void take(float* buf, std::size_t n, std::size_t peer) = 0;
  virtual void wait_taken(std::size_t peer, std::uint64_t ticket) = 0;
};
static_assert(Communicator<process_comm>);

/// process_comm over any Communicator C (mpi_comm, nccl_comm, local_comm in tests).
template <Communicator C>
class process_comm_of final : public process_comm {
 public:
  explicit process_comm_of(C comm) : comm_(std::move(comm)) {}
  /// Builds the communicator in place (for one that cannot move, such as nccl_comm).
  template <class... A>
  explicit process_comm_of(std::in_place_t, A&&... args) : comm_(std::forward<A>(args)...) {}
  C& get() { return comm_; }
  std::size_t rank() const override { return comm_.rank(); }
  std::size_t size() const override { return comm_.size(); }
  void all_reduce(float* buf, std::size_t n) override { comm_.all_reduce(buf, n); }
  void reduce_scatter(const float* in, float* out, std::size_t n) override { comm_.reduce_scatter(in, out, n); }
  void all_gather(const float* in, float* out, std::size_t n) override { comm_.all_gather(in, out, n); }
  void broadcast(float* buf, std::size_t n, std::size_t root) override { comm_.broadcast(buf, n, root); }
  void barrier() override { comm_.barrier(); }
  void send(const float* buf, std::size_t n, std::size_t peer) override { comm_.send(buf, n, peer); }
  void recv(float* buf, std::size_t n, std::size_t peer) override { comm_.recv(buf, n, peer); }
  std::uint64_t post(const float* buf, std::size_t n, std::size_t peer) override { return comm_.post(buf, n, peer); }
  void take(float* buf, std::size_t n, std::size_t peer) override { comm_.take(buf, n, peer); }
  void wait_taken(std::size_t peer, std::uint64_t ticket) override { comm_.wait_taken(peer, ticket); }

 private:
  C comm_;
};

/// The processes of a job: what place(...) asks of them. Every call is collective: each process
/// makes the same calls in the same order (place does).
class process_set {
 public:
  virtual ~process_set() = default;
  virtual std::size_t rank() const = 0;  // this process, in [0, size())
  virtual std::size_t size() const = 0;  // processes in the job
  /// A new communicator over every process, ranked as the processes are; its messages never meet
  /// another communicator's.
  virtual std::unique_ptr<process_comm> communicator() = 0;
  /// The same for a device whose memory may not be the host's: the communicator moves that device's
  /// buffers and orders its work with the device's (a CUDA stream). By default only host memory.
  virtual std::unique_ptr<process_comm> communicator_for(const device_binding& device) {
    if (device.gpu < 0) return communicator();
    fail(cat("a communicator between processes was asked for CUDA device ", device.gpu),
         "these processes move host memory (MPI); a model on CUDA devices needs NCCL between them",
         "place it with across_processes from plait/comm/nccl/env_processes.hpp (launched by variables) or "
         "plait/comm/nccl/mpi_processes.hpp (over MPI), linking plait::nccl and plait::cuda");
  }
  /// Returns when every process states the same identity; otherwise throws the same plait::error on
  /// every process, naming the processes that differ and in what.
  virtual void check_consistent(const run_identity& mine) = 0;
};

/// The devices of a job across processes: `local` on every process (the same count on each), and
/// the processes. Process q runs the mesh's devices [q * local.count, (q + 1) * local.count).
template <class Backend>
struct process_devices {
  device_set<Backend> local;
  std::shared_ptr<process_set> processes;
};

}  // namespace plait
