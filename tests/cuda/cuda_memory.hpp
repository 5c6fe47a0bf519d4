#pragma once
// Device memory for the backend cases: zeroed cudaMalloc blocks owned by the allocator (tests only;
// plait itself plans one cuda_arena per device).

#include <cuda_runtime_api.h>

#include <cstddef>
#include <plait/backend/cuda/error.hpp>
#include <vector>

namespace plait::test {

class cuda_memory {
 public:
  cuda_memory() = default;
  cuda_memory(const cuda_memory&) = delete;
  cuda_memory& operator=(const cuda_memory&) = delete;
  ~cuda_memory() {
    for (void* p : blocks_) (void)cudaFree(p);
  }
  template <class T>
  T* zeros(std::size_t n) {
    void* p = nullptr;
    const std::size_t bytes = n * sizeof(T) + sizeof(double);
    cuda_detail::cuda_check(cudaMalloc(&p, bytes), "cudaMalloc (test memory)");
    blocks_.push_back(p);
    cuda_detail::cuda_check(cudaMemset(p, 0, bytes), "cudaMemset (test memory)");
    // cudaMemset runs on the legacy stream, which a context's non-blocking stream does not wait for.
    cuda_detail::cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (test memory)");
    return static_cast<T*>(p);
  }

 private:
  std::vector<void*> blocks_;
};

}  // namespace plait::test
