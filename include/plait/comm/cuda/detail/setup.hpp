#pragma once
// cuda_local_group's construction (comm/cuda/local_group.hpp): checks the ranks, enables peer access
// between their GPUs where the GPUs allow it, creates every event the group will record, and
// allocates the staging scratch of ranks that cannot reach a peer's memory.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "../../../backend/cuda/error.hpp"
#include "../../../core/error.hpp"
#include "../local_group.hpp"

namespace plait {

inline cuda_local_group::cuda_local_group(std::vector<cuda_local_rank> ranks, cuda_local_options options)
    : size_(ranks.size()), options_(options), meet_(ranks.size()) {
  using cuda_detail::cuda_check;
  using cuda_local_detail::max_ranks;
  if (size_ == 0)
    fail("a cuda_local_group of no ranks was asked for", "a group has at least one rank",
         "pass one (GPU, stream) per rank");
  if (size_ > max_ranks)
    fail(cat("a cuda_local_group of ", size_, " ranks was asked for"),
         cat("its reduce kernel takes at most ", max_ranks, " ranks' pointers"),
         "split the ranks into groups, e.g. one per GPU and one across GPUs (hierarchical_comm)");
  if (options.deadline.count() <= 0)
    fail("a cuda_local_group was asked for with a deadline <= 0", "every wait for a peer needs time to succeed",
         "pass cuda_local_options{.deadline = ...} > 0, e.g. std::chrono::seconds(30)");
  if (options.post_depth == 0 || options.staging_floats == 0)
    fail("a cuda_local_group was asked for with post_depth or staging_floats 0", "messages and staged chunks need room",
         "leave them at their defaults or pass values >= 1");
  int count = 0;
  cuda_check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  for (std::size_t r = 0; r < size_; ++r)
    if (ranks[r].device < 0 || ranks[r].device >= count)
      fail(cat("rank ", r, " of a cuda_local_group names CUDA device ", ranks[r].device),
           cat("this machine has ", count, " CUDA devices"),
           "name devices below cudaGetDeviceCount(), e.g. those of cuda_devices({0, 1}) or virtual_cuda_devices(n)");
  staging_ = (options.staging_floats + 3) / 4 * 4;

  // Peer access: rank r's kernels read and write rank q's buffers where r's GPU may map q's memory.
  direct_.assign(size_ * size_, 1);
  for (std::size_t r = 0; r < size_; ++r)
    for (std::size_t q = 0; q < size_; ++q) {
      const int from = ranks[r].device, to = ranks[q].device;
      if (from == to) continue;
      int can = 0;
      cuda_check(cudaDeviceCanAccessPeer(&can, from, to), cat("cudaDeviceCanAccessPeer to device ", to), from);
      direct_[r * size_ + q] = static_cast<unsigned char>(can != 0);
      if (!can) continue;
      const cuda_local_detail::device_scope on(from);
      const cudaError_t e = cudaDeviceEnablePeerAccess(to, 0);
      if (e == cudaErrorPeerAccessAlreadyEnabled)
        (void)cudaGetLastError();  // by an earlier group, or another pair of ranks
      else cuda_check(e, cat("cudaDeviceEnablePeerAccess to device ", to), from);
    }

  ranks_ = std::make_unique<rank_state[]>(size_);
  for (std::size_t r = 0; r < size_; ++r) {
    rank_state& s = ranks_[r];
    s.at = ranks[r];
    cuda_check(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, s.at.device), "cudaDeviceGetAttribute",
               s.at.device);
    s.ready = cuda_local_detail::owned_events(s.at.device, 2);
    s.done = cuda_local_detail::owned_events(s.at.device, 1);
    std::size_t staged = 0;
    for (std::size_t q = 0; q < size_; ++q) staged += direct(r, q) ? 0 : 1;
    if (staged)
      s.scratch =
          cuda_local_detail::device_floats(s.at.device, staged * (staging_ + 4));  // [staged][staging + 4] @ rank r
  }
  posts_ = std::make_unique<cuda_local_detail::mailbox[]>(size_ * size_);
  sends_ = std::make_unique<cuda_local_detail::mailbox[]>(size_ * size_);
  for (std::size_t from = 0; from < size_; ++from)
    for (std::size_t to = 0; to < size_; ++to)
      if (from != to) {
        box(posts_, from, to).open(ranks[from], ranks[to], options.post_depth);
        box(sends_, from, to).open(ranks[from], ranks[to], 1);  // a send waits until taken: one in flight
      }
}

}  // namespace plait
