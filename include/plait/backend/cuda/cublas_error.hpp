#pragma once
// Checked cuBLAS calls, beside cuda_check: a failed call is a plait::error naming the call, the CUDA
// device and cuBLAS's own name and text for the status, e.g.
//   plait: cublasSgemm (m 64, n 10, k 784) failed on CUDA device 0 (CUBLAS_STATUS_EXECUTION_FAILED: the
//   GPU program failed to execute). cuBLAS returned an error for this call. Fix: ...
// Only the CUDA parts of plait (plait/cuda.hpp) include this header.

#include <cublas_v2.h>

#include <string>
#include <string_view>

#include "../../core/error.hpp"

namespace plait::cuda_detail {

/// What to do about a failed cuBLAS call, by the kind of failure.
inline std::string_view fix_for(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "create the context on a device whose driver answers (nvidia-smi), or use host devices";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "free GPU memory (lower max_batch, fewer virtual devices on one GPU) before creating the context";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "this is a plait bug (a matrix size or stride cuBLAS refuses): report it with the shapes above";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "use cuda_math::float32 on this GPU (TF32 needs compute capability 8.0 or later)";
    default: return "see cuBLAS's text above; run under compute-sanitizer for the failing kernel";
  }
}

/// Throws the plait::error for `s` unless it is CUBLAS_STATUS_SUCCESS. `what` names the call;
/// `device` is the CUDA device it ran on (-1: none).
inline void cublas_check(cublasStatus_t s, std::string_view what, int device = -1) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  fail(cat(what, " failed", device >= 0 ? cat(" on CUDA device ", device) : std::string(), " (", cublasGetStatusName(s),
           ": ", cublasGetStatusString(s), ")"),
       "cuBLAS returned an error for this call", fix_for(s));
}

}  // namespace plait::cuda_detail
