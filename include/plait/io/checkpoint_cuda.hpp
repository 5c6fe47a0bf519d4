#pragma once
// Checkpoints of models on CUDA devices copy GPU memory through pinned host memory (cudaMallocHost),
// 16 MB at a time, with the backend's copy functions (runtime/state_io.hpp). Included by plait/cuda.hpp.

#include "../backend/cuda/backend.hpp"
#include "../backend/cuda/memory.hpp"
#include "../runtime/host_bounce.hpp"

namespace plait {

template <>
struct checkpoint_bounce<cuda> {
  using buffer = pinned_buffer<float>;
};

}  // namespace plait
