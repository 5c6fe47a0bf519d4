#pragma once
// The only home of plait's macros (docs/contributing.md §5: at most ~10, all here).

#define PLAIT_VERSION_MAJOR 0
#define PLAIT_VERSION_MINOR 1
#define PLAIT_VERSION_PATCH 0
#define PLAIT_VERSION_STRING "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define PLAIT_RESTRICT __restrict__
#define PLAIT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PLAIT_RESTRICT
#define PLAIT_ALWAYS_INLINE inline
#endif

// Functions and lambdas that run inside kernels: host and device code under nvcc, plain C++ under
// g++ (where the macro is empty, so the host build sees exactly the code it always did).
#if defined(__CUDACC__)
#define PLAIT_HD __host__ __device__
#else
#define PLAIT_HD
#endif
