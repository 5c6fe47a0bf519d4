#pragma once
// available_cores(): the CPUs this process may run on (its affinity mask on Linux, which mpirun's
// binding and taskset narrow; std::thread::hardware_concurrency() elsewhere), at least 1.

#include <thread>
#if defined(__linux__)
#include <sched.h>
#endif

namespace plait {

inline unsigned available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return unsigned(CPU_COUNT(&set));
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

}  // namespace plait
