#pragma once
// Where each rank of an nccl_comm runs, and the unique id of NCCL's rendezvous (docs/design.md §8), agreed
// over MPI: nccl_comm(mpi_comm&, options) needs this header (plait/nccl.hpp includes it where mpi.h is
// found) and plait::mpi; from the launch variables see detail/placement.hpp.
//
// Over MPI (place_over_mpi), agreed before NCCL starts: every rank
// learns every rank's node and GPUs, takes its GPU (by default its rank on its node), and receives the
// unique id rank 0 made for NCCL's rendezvous. Every exchange goes through mpi_comm (so it has the
// deadline of mpi_options), and every rank checks the same gathered table, so a misplaced job (two
// ranks on one GPU, a node with fewer GPUs than ranks, a rank without CUDA) fails on every rank with
// the same message, before NCCL could hang on it.
//
//   mpiexec -np 4 on two nodes of 2 GPUs  ->  ranks 0, 1 on node a: devices 0, 1; ranks 2, 3 on b: 0, 1

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../../backend/cuda/error.hpp"
#include "../../core/error.hpp"
#include "../mpi/comm.hpp"
#include "detail/placement.hpp"
#include "error.hpp"

namespace plait::nccl_detail {

// What one rank says about itself, gathered by all (trivially copyable, fixed size).
struct node_record {          // round 1
  std::int32_t device_count;  // CUDA devices this rank sees; -1: none answers
  std::int32_t requested;     // nccl_options::device; -1: the rank on its node
  char host[MPI_MAX_PROCESSOR_NAME + 1];
};
struct device_record {     // round 2
  std::int32_t failed;     // 1: this rank failed, `what` says how
  unsigned char uuid[16];  // its GPU's identity, to find two ranks on one GPU
  char what[512];
  ncclUniqueId id;  // rank 0's; unused elsewhere
};

template <class Record>
std::vector<Record> gather(mpi_comm& comm, const Record& mine) {
  std::vector<Record> all(comm.size());  // [size] records @ every rank, in rank order
  comm.all_gather_bytes(&mine, all.data(), sizeof(Record));
  return all;
}

inline void copy_text(char* to, std::size_t cap, std::string_view text) {
  const std::size_t n = std::min(cap - 1, text.size());
  std::memcpy(to, text.data(), n);
  to[n] = '\0';
}

/// Collective over `comm`. `requested`: the device this rank asked for (-1: its rank on its node).
inline placement place_over_mpi(mpi_comm& comm, int requested) {
  const std::size_t rank = comm.rank(), size = comm.size();
  node_record me{};
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    count = -1;
  }
  me.device_count = count > 0 ? count : -1;
  me.requested = requested;
  int length = 0;
  if (MPI_Get_processor_name(me.host, &length) != MPI_SUCCESS) copy_text(me.host, sizeof me.host, "(unknown host)");
  const std::vector<node_record> nodes = gather(comm, me);

  // Every rank checks every rank, in rank order: all fail alike, naming the same rank.
  placement p;
  const auto same_node = [&](std::size_t a, std::size_t b) { return std::strcmp(nodes[a].host, nodes[b].host) == 0; };
  for (std::size_t q = 0; q < size; ++q) {
    std::size_t local = 0, local_size = 0;
    for (std::size_t o = 0; o < size; ++o)
      if (same_node(o, q)) local += o < q ? 1 : 0, ++local_size;
    const node_record& r = nodes[q];
    const int device = r.requested >= 0 ? r.requested : static_cast<int>(local);
    if (r.device_count < 0)
      fail(cat("rank ", q, " of ", size, " (on ", std::string_view(r.host), ") sees no CUDA device"),
           "an nccl_comm runs each rank on a GPU of its own",
           "run the job on nodes whose NVIDIA driver answers (nvidia-smi), or use mpi_comm for host buffers");
    if (device >= r.device_count)
      fail(
          cat("rank ", q, " of ", size, " would take CUDA device ", device, " on ", std::string_view(r.host),
              ", which has ", r.device_count, " (", local_size, " ranks run there)"),
          r.requested >= 0
              ? "nccl_options::device names a device the node does not have"
              : "an nccl_comm puts each rank on its own GPU, the rank's number on its node, and NCCL refuses two ranks on one GPU",
          cat("start at most ", r.device_count, " ranks per node (mpiexec -npernode ", r.device_count,
              "), or pass nccl_options{.device = ...} below the node's device count"));
    if (q == rank) p.device = device;
  }

  // Round 2: this rank's GPU, and rank 0's unique id.
  device_record mine{};
  try {
    cuda_detail::cuda_check(cudaSetDevice(p.device), "cudaSetDevice", p.device);
    cudaDeviceProp prop{};
    cuda_detail::cuda_check(cudaGetDeviceProperties(&prop, p.device), "cudaGetDeviceProperties", p.device);
    std::memcpy(mine.uuid, prop.uuid.bytes, sizeof mine.uuid);
    if (rank == 0)
      if (const ncclResult_t r = ncclGetUniqueId(&mine.id); r != ncclSuccess)
        fail_call(r, "ncclGetUniqueId", cat("on rank 0 of ", size, " (creating NCCL's rendezvous)"), nullptr);
  } catch (const error& e) {
    mine.failed = 1;
    copy_text(mine.what, sizeof mine.what, e.what());
  }
  const std::vector<device_record> devices = gather(comm, mine);
  for (std::size_t q = 0; q < size; ++q)
    if (devices[q].failed)
      fail(cat("rank ", q, " of ", size, " could not prepare its GPU for NCCL: ", std::string_view(devices[q].what)),
           "every rank needs its GPU and rank 0's unique id before NCCL starts", "fix what that rank reports");
  for (std::size_t a = 0; a < size; ++a)
    for (std::size_t b = a + 1; b < size; ++b)
      if (same_node(a, b) && std::memcmp(devices[a].uuid, devices[b].uuid, sizeof devices[a].uuid) == 0)
        fail(
            cat("ranks ", a, " and ", b, " of ", size, " share one GPU on ", std::string_view(nodes[a].host)),
            "NCCL needs one GPU per rank (two ranks on one GPU hang or are refused)",
            "give each rank its own device (CUDA_VISIBLE_DEVICES, nccl_options::device), or start fewer ranks per node");
  p.id = devices[0].id;
  return p;
}

/// nccl_comm(mpi_comm&, options) agrees over MPI.
template <>
struct agree<mpi_comm> {
  static placement place(mpi_comm& comm, int requested) { return place_over_mpi(comm, requested); }
};

}  // namespace plait::nccl_detail
