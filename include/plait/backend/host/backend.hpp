#pragma once
// The host backend: a logical device is a thread of this process with its own arena. Kernels run
// through Thrust with an explicit host execution policy (thrust::cpp::par, sequential, or
// thrust::omp::par, OpenMP threads), float32 and double matrix products through OpenBLAS
// (kernels/gemm_host.hpp), under host_math::bf16 float products through
// oneDNN's bf16 matmul (kernels/gemm_host.hpp), and
// float convolutions through oneDNN (kernels/conv_host.hpp), whose OpenMP team is the device's
// `threads` as well.

#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/omp/execution_policy.h>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <type_traits>

#include <omp.h>

#include "../../core/error.hpp"
#include "bf16_cpu.hpp"

extern "C" void openblas_set_num_threads(int);

namespace plait {

/// Thrust systems a host device can run its kernels on.
struct sequential {};  // thrust::cpp::par: the device's own thread
struct openmp {};      // thrust::omp::par: an OpenMP team of `threads` per device

/// The host backend, a type: it selects kernels by specialisation.
template <class System = sequential>
struct host {
  static_assert(std::is_same_v<System, sequential> || std::is_same_v<System, openmp>,
                "plait: unknown host system. The host backend runs Thrust's cpp or omp system. Fix: "
                "use host<sequential> or host<openmp>.");
  using system = System;
};

/// How a host device multiplies float matrices, as cuda_math does on CUDA devices. Storage is float32
/// in every mode: parameters (the master weights the optimizer updates), gradients, optimizer state,
/// activations, element-wise work and the loss; only a product's operands are rounded.
///   float32: IEEE single precision (the default), through OpenBLAS's cblas_sgemm (kernels/gemm_host.hpp).
///   bf16:    both operands rounded to bfloat16 (core/bf16.hpp's round_to_bf16) into the device's scratch,
///            multiplied by oneDNN's bf16 matmul (AMX where the CPU has it, else AVX-512 BF16) with float32
///            accumulation, C float32: cuda_math::bf16's arithmetic. Refused (bf16_cpu.hpp) on a CPU
///            without AVX-512 BF16 or AMX.
/// Double products are IEEE double (OpenBLAS) in every mode.
enum class host_math { float32, bf16 };

namespace host_detail {
class bf16_products;  // kernels/detail/bf16_products.hpp: oneDNN primitives per shape and bf16 scratch
}

template <class T>
struct is_host_backend : std::false_type {};
template <class S>
struct is_host_backend<host<S>> : std::true_type {};

/// What a step needs to run kernels on one logical host device.
template <class System>
struct host_context {
  using backend = host<System>;
  std::size_t index = 0;                // logical device
  unsigned threads = 1;                 // threads of this device's kernels and GEMMs
  host_math math = host_math::float32;  // how its float products multiply
  /// host_math::bf16's state, made by this device's first bf16 product and shared by the context's copies
  /// made after it: the oneDNN matmul of each product shape met so far, and the scratch its operands are
  /// rounded into. Used by one thread at a time, as the device's kernels are.
  mutable std::shared_ptr<host_detail::bf16_products> bf16_state{};

  static auto policy() {
    if constexpr (std::is_same_v<System, openmp>) return thrust::omp::par;
    else return thrust::cpp::par;
  }

  /// Whether this device's loops run on the calling thread alone now: a sequential device, or an OpenMP
  /// one whose team is one thread (its `threads`, or PLAIT_MAX_THREADS, is 1) or that is already inside
  /// a team. Such loops skip the parallel region: libgomp allocates a team of one thread for every
  /// region and frees it after (it keeps only larger teams), and a step allocates nothing.
  static bool alone() {
    if constexpr (std::is_same_v<System, openmp>) return omp_get_max_threads() == 1 || omp_in_parallel();
    else return true;
  }

  /// Binds the calling thread to this device's thread count (OpenMP, so oneDNN and plait's split of a
  /// product too), capped by the environment variable PLAIT_MAX_THREADS when it is set (sanitizer runs
  /// set 1: libgomp's own threads are invisible to ThreadSanitizer). OpenBLAS runs on one thread:
  /// host_sgemm splits a product over the device's OpenMP team itself (kernels/gemm_host.hpp).
  void enter() const {
    static const unsigned cap = [] {
      const char* v = std::getenv("PLAIT_MAX_THREADS");
      const long n = v ? std::strtol(v, nullptr, 10) : 0;
      return n > 0 ? unsigned(n) : 0u;
    }();
    const int n = static_cast<int>(cap && threads > cap ? cap : threads);
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
  }
};

/// The devices a model is placed on: `count` logical devices of one backend.
template <class Backend>
struct device_set {
  using backend = Backend;
  std::size_t count = 1;
  unsigned threads_per_device = 1;
  host_math math = host_math::float32;  // host devices' float products (CUDA's device set has cuda_math)
};

/// One host device using `threads` threads for its kernels and GEMMs, its float products in `math`
/// (host_math::bf16 is refused on a CPU without bfloat16 instructions).
template <class System = sequential>
device_set<host<System>> host_device(unsigned threads = 1, host_math math = host_math::float32) {
  expect(threads > 0, "a host device was asked for with 0 threads", "each device runs at least one thread",
         "pass threads >= 1");
  if (math == host_math::bf16) host_detail::expect_bf16_cpu();
  return {1, threads, math};
}

/// `n` host devices, each using `threads` threads, their float products in `math`.
template <class System = sequential>
device_set<host<System>> host_devices(std::size_t n, unsigned threads = 1, host_math math = host_math::float32) {
  expect(n > 0, "host_devices(0) was asked for", "a model needs at least one device", "pass n >= 1");
  expect(threads > 0, "host devices were asked for with 0 threads", "each device runs at least one thread",
         "pass threads >= 1");
  if (math == host_math::bf16) host_detail::expect_bf16_cpu();
  return {n, threads, math};
}

}  // namespace plait
