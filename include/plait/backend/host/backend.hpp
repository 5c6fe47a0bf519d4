#pragma once
// The host backend: a logical device is a thread of this process with its own arena. Kernels run
// through Thrust with an explicit host execution policy (thrust::cpp::par, sequential, or
// thrust::omp::par, OpenMP threads), matrix products through CBLAS (OpenBLAS).

#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/omp/execution_policy.h>
#include <cstddef>
#include <cstdlib>
#include <type_traits>

#include <omp.h>

#include "../../core/error.hpp"

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

template <class T>
struct is_host_backend : std::false_type {};
template <class S>
struct is_host_backend<host<S>> : std::true_type {};

/// What a step needs to run kernels on one logical host device.
template <class System>
struct host_context {
  using backend = host<System>;
  std::size_t index = 0;  // logical device
  unsigned threads = 1;   // threads of this device's kernels and GEMMs

  static auto policy() {
    if constexpr (std::is_same_v<System, openmp>) return thrust::omp::par;
    else return thrust::cpp::par;
  }

  /// Binds the calling thread to this device's thread count (OpenMP and OpenBLAS), capped by the
  /// environment variable PLAIT_MAX_THREADS when it is set (sanitizer runs set 1: libgomp's and
  /// OpenBLAS's own threads are invisible to ThreadSanitizer).
  void enter() const {
    static const unsigned cap = [] {
      const char* v = std::getenv("PLAIT_MAX_THREADS");
      const long n = v ? std::strtol(v, nullptr, 10) : 0;
      return n > 0 ? unsigned(n) : 0u;
    }();
    const int n = static_cast<int>(cap && threads > cap ? cap : threads);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
  }
};

/// The devices a model is placed on: `count` logical devices of one backend.
template <class Backend>
struct device_set {
  using backend = Backend;
  std::size_t count = 1;
  unsigned threads_per_device = 1;
};

/// One host device using `threads` threads for its kernels and GEMMs.
template <class System = sequential>
device_set<host<System>> host_device(unsigned threads = 1) {
  expect(threads > 0, "a host device was asked for with 0 threads", "each device runs at least one thread",
         "pass threads >= 1");
  return {1, threads};
}

/// `n` host devices, each using `threads` threads.
template <class System = sequential>
device_set<host<System>> host_devices(std::size_t n, unsigned threads = 1) {
  expect(n > 0, "host_devices(0) was asked for", "a model needs at least one device", "pass n >= 1");
  expect(threads > 0, "host devices were asked for with 0 threads", "each device runs at least one thread",
         "pass threads >= 1");
  return {n, threads};
}

}  // namespace plait
