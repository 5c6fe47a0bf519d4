#pragma once
// Checked CUDA runtime calls. Every CUDA call plait makes goes through cuda_check: a failure is a
// plait::error naming the call, the CUDA device and CUDA's own name and text for the code, e.g.
//   plait: cudaMalloc of 8589934592 bytes failed on CUDA device 0 (cudaErrorMemoryAllocation: out of
//   memory). CUDA returned an error for this call. Fix: lower max_batch or use more devices.
// Only the CUDA parts of plait (plait/cuda.hpp, plait/nccl.hpp) include this header.

#include <cuda_runtime_api.h>

#include <new>
#include <string>
#include <string_view>

#include "../../core/error.hpp"

namespace plait::cuda_detail {

/// What to do about a failed CUDA call, by the kind of failure.
inline std::string_view fix_for(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation: return "lower max_batch or the model's size, or spread the model over more devices";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return "run on a machine whose NVIDIA driver answers (nvidia-smi), or use host devices";
    case cudaErrorInvalidDevice: return "name CUDA devices that exist (cudaGetDeviceCount), e.g. cuda_devices({0})";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
      return "the device's context is lost: restart the process; run under compute-sanitizer to find the kernel";
    default: return "see CUDA's text above; run under compute-sanitizer for the failing kernel";
  }
}

/// Throws the plait::error for `e` unless it is cudaSuccess. `what` names the call (and, where it
/// helps, its size: "cudaMalloc of 4096 bytes"); `device` is the CUDA device it ran on (-1: none).
inline void cuda_check(cudaError_t e, std::string_view what, int device = -1) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();  // clears a sticky-free error so the next call does not report it again
  fail(cat(what, " failed", device >= 0 ? cat(" on CUDA device ", device) : std::string(), " (", cudaGetErrorName(e),
           ": ", cudaGetErrorString(e), ")"),
       "CUDA returned an error for this call", fix_for(e));
}

/// Makes `device` current on the calling thread for a scope and the caller's device current again
/// after it: what allocates or frees on a device's behalf leaves the caller where it was. The nothrow
/// form (for destructors) ignores errors.
class keep_device {
 public:
  explicit keep_device(int device) {
    cuda_check(cudaGetDevice(&previous_), "cudaGetDevice", device);
    if (previous_ == device) return;
    cuda_check(cudaSetDevice(device), "cudaSetDevice", device);
    changed_ = true;
  }
  keep_device(int device, std::nothrow_t) noexcept {
    if (cudaGetDevice(&previous_) != cudaSuccess) (void)cudaGetLastError(), previous_ = -1;
    changed_ = previous_ != device && cudaSetDevice(device) == cudaSuccess && previous_ >= 0;
  }
  keep_device(const keep_device&) = delete;
  keep_device& operator=(const keep_device&) = delete;
  ~keep_device() {
    if (changed_) (void)cudaSetDevice(previous_);
  }

 private:
  int previous_ = -1;
  bool changed_ = false;
};

/// Whether any CUDA device answers: what CUDA tests and examples ask before they run (exit 77 if not).
inline bool cuda_device_answers() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) (void)cudaGetLastError();
  return e == cudaSuccess && n > 0;
}

}  // namespace plait::cuda_detail
