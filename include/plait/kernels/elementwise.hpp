#pragma once
// Element-wise and per-row loops, run by Thrust with the device's explicit execution policy
// (thrust::cpp::par / thrust::omp::par on the host, thrust::cuda::par_nosync.on(stream) on CUDA,
// which launches on the context's stream). Row loops keep the inner loop over a row's contiguous
// elements, which the host compiler vectorises.
//
// The functions given to these loops are the kernels' bodies: they are marked PLAIT_HD
// (__host__ __device__ under nvcc, nothing under g++), capture by value, and touch only the
// memory of the context's device.

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/cpp/execution_policy.h>
#include <cstddef>

#include "../core/config.hpp"
#include "reduce.hpp"

namespace plait {

/// How many elements for_blocks hands one task, by backend. The caller's `block` is the host's
/// grain (work per thread worth a task); a backend whose threads are many and light (CUDA)
/// specialises this to hand each thread fewer.
template <class Backend>
struct block_grain {
  static constexpr std::size_t of(std::size_t block) { return block; }
};

namespace detail {
/// f(i) for i in [0, n) on the context's policy; on the calling thread alone where a host context says
/// its loops run there now (host_context::alone: a parallel region of one thread would cost a team).
template <class Ctx, class F>
void for_each_index(const Ctx& ctx, std::size_t n, F f) {
  if constexpr (requires { ctx.alone(); })
    if (ctx.alone()) return (void)thrust::for_each_n(thrust::cpp::par, thrust::counting_iterator<std::size_t>(0), n, f);
  thrust::for_each_n(ctx.policy(), thrust::counting_iterator<std::size_t>(0), n, f);
}
}  // namespace detail

/// f(r) for r in [0, rows).
template <class Ctx, class F>
void for_rows(const Ctx& ctx, std::size_t rows, F f) {
  if (rows == 0) return;
  detail::for_each_index(ctx, rows, f);
}

/// f(begin, end) over `n` elements cut into blocks (of `block` on the host); blocks may run in
/// parallel, so f may rely only on [begin, end) being a part of a partition of [0, n).
template <class Ctx, class F>
void for_blocks(const Ctx& ctx, std::size_t n, std::size_t block, F f) {
  const std::size_t grain = block_grain<typename Ctx::backend>::of(block);
  const std::size_t blocks = (n + grain - 1) / grain;
  if (blocks == 0) return;
  detail::for_each_index(ctx, blocks, [=] PLAIT_HD(std::size_t b) {
    const std::size_t begin = b * grain;
    f(begin, begin + grain < n ? begin + grain : n);
  });
}

/// dst[i] += src[i] for i in [0, n).
template <class Ctx, class T>
void add_to(const Ctx& ctx, T* dst, const T* src, std::size_t n) {
  for_blocks(ctx, n, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) dst[i] += src[i];
  });
}

}  // namespace plait
