#pragma once
// hierarchical_comm: one device's handle on a group that may span processes, as a mesh's
// data-parallel group does when place(...) is given several processes. The group's D = L x Q ranks
// are the L devices of each of Q processes; group rank = process * L + local rank. Inside a process
// the devices talk through a local group; across processes each device talks with the devices of the
// same local rank in the other processes (one process_comm per local rank, so the L devices of a
// process use the network side by side).
//
//   all_reduce of [n]:  local reduce-scatter   [n] @ each device -> [n/L] chunk of the process's sum
//                       across all-reduce      [n/L] @ the same chunk of every process -> the job's sum
//                       local all-gather       [n/L] chunks -> [n] @ every device
// Each byte crosses the network once per process, not once per device. The result has the same bits
// on every rank: chunk c is summed across processes by one all-reduce (the same bits on its ranks),
// then copied. With L = 1 the group is the process_comm alone; without processes, the local group.

#include <cstddef>

#include "../core/error.hpp"
#include "chunk.hpp"
#include "host/local_comm.hpp"
#include "processes.hpp"

namespace plait {

/// Local: the communicator between the devices of one process (local_comm on host devices,
/// cuda_local_comm on CUDA devices, for which `across` stays null: no transport of device memory
/// across processes is wired yet).
template <class Local>
class basic_hierarchical_comm {
 public:
  /// `local`: this device among the process's devices of the group; `across`: the devices of the
  /// same local rank in every process (nullptr: the group lies in this process).
  explicit basic_hierarchical_comm(Local local, process_comm* across = nullptr) : local_(local), across_(across) {}

  std::size_t rank() const { return across_ ? across_->rank() * local_.size() + local_.rank() : local_.rank(); }
  std::size_t size() const { return local_.size() * (across_ ? across_->size() : 1); }
  bool spans_processes() const { return across_ != nullptr && across_->size() > 1; }

  void all_reduce(float* buf, std::size_t n) {  // [n] @ every rank of the group -> the sum
    if (!spans_processes()) return local_.all_reduce(buf, n);
    if (local_.size() == 1) return across_->all_reduce(buf, n);
    const chunk c = chunk_of(n, local_.size(), local_.rank());
    local_.reduce_scatter(buf, buf + c.begin, n);  // [n] @ each device -> [c] @ me: the process's sum (in place)
    across_->all_reduce(buf + c.begin, c.size());  // [c] @ local rank l of every process -> the job's sum
    local_.all_gather(buf + c.begin, buf, n);      // [c] @ each device -> [n] @ every device (in place)
  }

  /// reduce_scatter and all_gather in the group's rank order: across processes they need one device
  /// per process (L = 1); place(...) refuses a mesh that would need more before anything runs.
  void reduce_scatter(const float* in, float* out, std::size_t n) {  // out: [chunk_of(n, size, rank)] of the sum
    if (!spans_processes()) return local_.reduce_scatter(in, out, n);
    expect_one_per_process("reduce_scatter");
    across_->reduce_scatter(in, out, n);
  }
  void all_gather(const float* in, float* out, std::size_t n) {  // in: my chunk; out: [n], rank order
    if (!spans_processes()) return local_.all_gather(in, out, n);
    expect_one_per_process("all_gather");
    across_->all_gather(in, out, n);
  }
  void broadcast(float* buf, std::size_t n, std::size_t root) {  // [n] <- group rank root's
    if (!spans_processes()) return local_.broadcast(buf, n, root);
    const std::size_t l = local_.size();
    if (local_.rank() == root % l) across_->broadcast(buf, n, root / l);  // root's process -> its peers
    local_.broadcast(buf, n, root % l);                                   // then inside every process
  }
  void barrier() {
    local_.barrier();
    if (spans_processes()) across_->barrier();
    local_.barrier();
  }

 private:
  void expect_one_per_process(const char* op) const {
    if (local_.size() != 1)
      fail(
          cat(op, " over a group of ", size(), " devices in ", across_->size(), " processes (", local_.size(),
              " in each)"),
          "across processes, plait reduce-scatters and all-gathers with one device of the group per process",
          "give each process one replica (e.g. host_devices of the inner policy's size), or do not shard the optimizer");
  }

  Local local_;
  process_comm* across_;
};

/// The host's: the devices of a process meet in a local_group.
using hierarchical_comm = basic_hierarchical_comm<local_comm>;

}  // namespace plait
