#pragma once
// The CUDA backend: a logical device is a GPU and a stream on it. Several logical devices may
// share one GPU (virtual devices), each with its own stream and cuBLAS handle, which is how
// multi-device policies run on a one-GPU machine. Kernels run through Thrust with the explicit
// policy thrust::cuda::par_nosync.on(stream), CUB where a kernel needs block-level primitives,
// matrix products through cuBLAS on the same stream.
//
// Only plait/cuda.hpp includes this header; it needs nvcc (--extended-lambda
// --expt-relaxed-constexpr, as the plait::cuda CMake target sets).

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <thrust/system/cuda/execution_policy.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/error.hpp"
#include "../host/backend.hpp"  // device_set
#include "cublas_error.hpp"
#include "error.hpp"

namespace plait {

/// The CUDA backend, a type: it selects kernels by specialisation.
struct cuda {};

template <class T>
struct is_cuda_backend : std::false_type {};
template <>
struct is_cuda_backend<cuda> : std::true_type {};

/// How a CUDA device multiplies float matrices. Storage is float32 in every mode: parameters (the
/// master weights the optimizer updates), gradients, optimizer state, activations, element-wise work and
/// the loss; only a product's operands are rounded, as cuBLAS reads them.
///   float32: IEEE single precision (the default).
///   tf32:    tensor cores, inputs rounded to a 10-bit mantissa, float accumulation (about 1e-3 relative).
///   bf16:    tensor cores, inputs rounded to bfloat16 (8 significant bits, core/bf16.hpp's round_to_bf16),
///            float accumulation (about 4e-3 relative per product); needs compute capability 8.0 or later.
/// Double products are IEEE double in every mode.
enum class cuda_math { float32, tf32, bf16 };

namespace cuda_detail {

inline int device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    (void)cudaGetLastError();
    return 0;
  }
  cuda_check(e, "cudaGetDeviceCount");
  return n;
}

/// Throws unless `gpu` names a CUDA device of this machine.
inline void expect_device(int gpu) {
  const int n = device_count();
  if (gpu >= 0 && gpu < n) return;
  fail(cat("CUDA device ", gpu, " was asked for"),
       n == 0 ? std::string("no CUDA device answers on this machine")
              : cat("this machine has ", n, " CUDA device", n == 1 ? "" : "s", ", numbered 0 to ", n - 1),
       n == 0 ? "run on a machine whose NVIDIA driver answers (nvidia-smi), or use host devices"
              : "name devices below the count, e.g. cuda_devices({0}), or virtual_cuda_devices(n) to share GPU 0");
}

}  // namespace cuda_detail

/// What a step needs to run kernels on one logical CUDA device: its GPU, its own stream, a cuBLAS
/// handle bound to that stream with its own workspace (so that cuBLAS allocates nothing in a step, and a
/// step can be captured in a CUDA graph), a device scalar (with its pinned host twin) for results the
/// host reads (sum), and the step words: the step number and the optimizer's step count in device
/// memory, copied in from a pinned twin at the start of every step, which random layers and Adam read
/// on the device (so a captured step reads the current step's values when replayed). Owns them; moves,
/// does not copy. Everything is created, checked, at construction: a step creates nothing.
class cuda_context {
 public:
  using backend = cuda;
  std::size_t index = 0;  // logical device
  int device = 0;         // physical GPU

  cuda_context(std::size_t logical, int gpu, cuda_math math = cuda_math::float32)
      : index(logical), device(gpu), math_(math) {
    using cuda_detail::cuda_check;
    cuda_detail::expect_device(gpu);
    try {
      cuda_check(cudaSetDevice(gpu), "cudaSetDevice", gpu);
      cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", gpu);
      cuda_detail::cublas_check(cublasCreate(&blas_), "cublasCreate", gpu);
      cuda_detail::cublas_check(cublasSetStream(blas_, stream_), "cublasSetStream", gpu);
      // bf16 keeps the default math: its products name their compute type (cublasGemmEx, gemm_cuda.hpp).
      cuda_detail::cublas_check(
          cublasSetMathMode(blas_, math == cuda_math::tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
          "cublasSetMathMode", gpu);
      cuda_check(cudaMalloc(&workspace_, blas_workspace_bytes),
                 cat("cudaMalloc of ", blas_workspace_bytes, " bytes (cuBLAS workspace)"), gpu);
      cuda_detail::cublas_check(cublasSetWorkspace(blas_, workspace_, blas_workspace_bytes), "cublasSetWorkspace", gpu);
      cuda_check(cudaMalloc(reinterpret_cast<void**>(&scalar_), sizeof(double)), "cudaMalloc of 8 bytes", gpu);
      cuda_check(cudaMallocHost(reinterpret_cast<void**>(&host_scalar_), sizeof(double)), "cudaMallocHost of 8 bytes",
                 gpu);
      cuda_check(cudaMalloc(reinterpret_cast<void**>(&words_), 4 * sizeof(std::uint64_t)), "cudaMalloc of 32 bytes",
                 gpu);
      cuda_check(cudaMemsetAsync(words_, 0, 4 * sizeof(std::uint64_t), stream_), "cudaMemsetAsync", gpu);
      cuda_check(cudaMallocHost(reinterpret_cast<void**>(&host_words_), 2 * sizeof(std::uint64_t)),
                 "cudaMallocHost of 16 bytes", gpu);
      cuda_check(cudaMalloc(&scratch_, scratch_bytes),
                 cat("cudaMalloc of ", scratch_bytes, " bytes (reduction scratch)"), gpu);
      host_words_[0] = host_words_[1] = 0;
    } catch (...) {
      release();
      throw;
    }
  }
  cuda_context(cuda_context&& o) noexcept { swap(o); }
  cuda_context& operator=(cuda_context&& o) noexcept {
    cuda_context tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  cuda_context(const cuda_context&) = delete;
  cuda_context& operator=(const cuda_context&) = delete;
  ~cuda_context() { release(); }

  /// Thrust's policy for this device's kernels: asynchronous on its stream.
  auto policy() const { return thrust::cuda::par_nosync.on(stream_); }

  /// Makes this device's GPU current on the calling thread (a worker calls it once).
  void enter() const { cuda_detail::cuda_check(cudaSetDevice(device), "cudaSetDevice", device); }

  /// Waits for everything enqueued on this device's stream.
  void synchronize() const { cuda_detail::cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize", device); }

  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  cuda_math math() const { return math_; }
  double* device_scalar() const { return scalar_; }     // [1] @ this GPU
  double* host_scalar() const { return host_scalar_; }  // [1] @ pinned host memory

  /// The step words [step, optimizer step count] @ this GPU, as kernels read them.
  const std::uint64_t* step_words() const { return words_; }
  /// [2] doubles @ this GPU beside the step words: where an optimizer keeps the scalars it computes
  /// on the device from its step count, once per step rather than once per parameter (step_count).
  double* optimizer_scalars() const { return reinterpret_cast<double*>(words_ + 2); }
  /// Sets the pinned twin of the step words. The host calls it between steps only: the copy that
  /// reads the twin (copy_step_words, or its node in a captured step) runs when the step runs.
  void set_step_words(std::uint64_t step, std::uint64_t optimizer_step) const {
    host_words_[0] = step;
    host_words_[1] = optimizer_step;
  }
  /// Enqueues the copy of the pinned twin into the step words on this device's stream.
  void copy_step_words() const {
    cuda_detail::cuda_check(
        cudaMemcpyAsync(words_, host_words_, 2 * sizeof(std::uint64_t), cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync (host to device) of the step words", device);
  }

  /// cuBLAS's workspace per handle: what NVIDIA recommends for Hopper (32 MiB).
  static constexpr std::size_t blas_workspace_bytes = std::size_t{32} << 20;
  /// [scratch_bytes] @ this GPU: the partial results of a reduction split over blocks (column_sums),
  /// which a second kernel on this stream adds; only one kernel pair uses it at a time.
  void* scratch() const { return scratch_; }
  static constexpr std::size_t scratch_bytes = std::size_t{4} << 20;

 private:
  void swap(cuda_context& o) noexcept {
    std::swap(index, o.index);
    std::swap(device, o.device);
    std::swap(math_, o.math_);
    std::swap(stream_, o.stream_);
    std::swap(blas_, o.blas_);
    std::swap(scalar_, o.scalar_);
    std::swap(host_scalar_, o.host_scalar_);
    std::swap(workspace_, o.workspace_);
    std::swap(words_, o.words_);
    std::swap(host_words_, o.host_words_);
    std::swap(scratch_, o.scratch_);
  }
  // Errors are ignored here: this runs in destructors and after a failed construction.
  void release() noexcept {
    if (!stream_ && !blas_ && !scalar_ && !host_scalar_ && !workspace_ && !words_ && !host_words_ && !scratch_) return;
    const cuda_detail::keep_device on(device, std::nothrow);  // a destroyed context leaves the caller's device current
    if (scratch_) (void)cudaFree(scratch_);
    if (host_words_) (void)cudaFreeHost(host_words_);
    if (words_) (void)cudaFree(words_);
    if (host_scalar_) (void)cudaFreeHost(host_scalar_);
    if (scalar_) (void)cudaFree(scalar_);
    if (blas_) (void)cublasDestroy(blas_);
    if (workspace_) (void)cudaFree(workspace_);
    if (stream_) (void)cudaStreamDestroy(stream_);
    host_words_ = nullptr, words_ = nullptr, host_scalar_ = nullptr, scalar_ = nullptr, blas_ = nullptr;
    workspace_ = nullptr, stream_ = nullptr, scratch_ = nullptr;
  }

  cuda_math math_ = cuda_math::float32;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  double* scalar_ = nullptr;
  double* host_scalar_ = nullptr;
  void* workspace_ = nullptr;            // [blas_workspace_bytes] @ this GPU
  std::uint64_t* words_ = nullptr;       // [4] @ this GPU: the step words, then optimizer_scalars()
  std::uint64_t* host_words_ = nullptr;  // [2] @ pinned host memory
  void* scratch_ = nullptr;              // [scratch_bytes] @ this GPU
};

/// The CUDA devices a model is placed on: logical device i runs on GPU gpus[i]. Several logical
/// devices may name one GPU (virtual devices); each still gets its own stream and cuBLAS handle.
template <>
struct device_set<cuda> {
  using backend = cuda;
  std::vector<int> gpus;  // physical GPU of each logical device
  std::size_t count = 0;  // logical devices: gpus.size()
  cuda_math math = cuda_math::float32;

  /// One context per logical device, in order (checked: a missing GPU is a plait::error naming it).
  std::vector<cuda_context> contexts() const {
    std::vector<cuda_context> c;
    c.reserve(count);
    for (std::size_t i = 0; i < count; ++i) c.emplace_back(i, gpus[i], math);
    return c;
  }
};

/// One logical device per listed GPU, e.g. cuda_devices({0, 1}). Each GPU must exist and appear once.
inline device_set<cuda> cuda_devices(std::initializer_list<int> gpus, cuda_math math = cuda_math::float32) {
  expect(gpus.size() > 0, "cuda_devices({}) was asked for", "a model needs at least one device",
         "name at least one GPU, e.g. cuda_devices({0})");
  std::vector<int> list(gpus);
  for (std::size_t i = 0; i < list.size(); ++i) {
    cuda_detail::expect_device(list[i]);
    for (std::size_t j = 0; j < i; ++j)
      expect(list[j] != list[i], cat("cuda_devices names GPU ", list[i], " twice"),
             "each entry is one logical device on its own GPU",
             "list each GPU once, or use virtual_cuda_devices(n, gpu) for several logical devices on one GPU");
  }
  return {list, list.size(), math};
}

/// `n` logical devices sharing GPU `gpu`, each with its own stream: multi-device policies on one GPU.
inline device_set<cuda> virtual_cuda_devices(std::size_t n, int gpu = 0, cuda_math math = cuda_math::float32) {
  expect(n > 0, "virtual_cuda_devices(0) was asked for", "a model needs at least one device", "pass n >= 1");
  cuda_detail::expect_device(gpu);
  return {std::vector<int>(n, gpu), n, math};
}

}  // namespace plait
