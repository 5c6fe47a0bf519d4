#pragma once
// checkpoint_bounce<Backend>: the host buffer that checkpoints (io/checkpoint.hpp, runtime/state_io.hpp)
// copy a device's memory through, in chunks, where the host cannot read it in place. Pageable memory
// by default; the CUDA backend's is pinned (io/checkpoint_cuda.hpp, included by plait/cuda.hpp), so that
// its copies run at the PCIe rate instead of through the driver's own staging.

#include <vector>

namespace plait {

template <class Backend>
struct checkpoint_bounce {
  using buffer = std::vector<float>;  // made with a count; data() and size()
};

}  // namespace plait
