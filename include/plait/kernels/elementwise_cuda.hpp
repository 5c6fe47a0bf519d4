#pragma once
// for_rows and for_blocks on CUDA devices: both already run through the context's Thrust policy,
// thrust::cuda::par_nosync.on(stream), so they launch on the device's stream without waiting. What
// differs is the grain: a GPU runs tens of thousands of light threads, so for_blocks hands each
// thread one element (the caller's block is the host's work per task, far too coarse here).

#include <cstddef>

#include "../backend/cuda/backend.hpp"
#include "elementwise.hpp"

namespace plait {

template <>
struct block_grain<cuda> {
  static constexpr std::size_t of(std::size_t) { return 1; }
};

}  // namespace plait
