#pragma once
// available_cores(): the CPUs this process may run on, at least 1: its affinity mask on Linux (which
// mpirun's binding and taskset narrow), capped by its cgroup's CPU quota where one is set (a
// container started with --cpus=2 sees every CPU of the host in its mask, but runs on 2 at a time);
// std::thread::hardware_concurrency() elsewhere. Read once per process.

#include <charconv>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#if defined(__linux__)
#include <sched.h>
#endif

namespace plait {

namespace detail {
/// CPUs allowed by a quota of `quota` microseconds per `period` (rounded up); 0: no quota (negative,
/// "max", unreadable).
inline unsigned cores_of_quota(std::string_view quota, std::string_view period) {
  long long q = 0, p = 0;
  const auto qr = std::from_chars(quota.data(), quota.data() + quota.size(), q);
  const auto pr = std::from_chars(period.data(), period.data() + period.size(), p);
  if (qr.ec != std::errc{} || pr.ec != std::errc{} || q <= 0 || p <= 0) return 0;
  return unsigned((q + p - 1) / p);
}

/// The CPU quota of this process's cgroup in CPUs: cgroup v2's cpu.max ("<quota> <period>" or
/// "max <period>"), else v1's cpu.cfs_quota_us and cpu.cfs_period_us; 0 where none is set.
inline unsigned cgroup_cpu_quota() {
  std::string quota, period;
  if (std::ifstream v2("/sys/fs/cgroup/cpu.max"); v2 >> quota >> period) return cores_of_quota(quota, period);
  std::ifstream q1("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p1("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (q1 >> quota && p1 >> period) return cores_of_quota(quota, period);
  return 0;
}
}  // namespace detail

inline unsigned available_cores() {
  static const unsigned cores = [] {
    unsigned n = std::thread::hardware_concurrency();
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = unsigned(CPU_COUNT(&set));
    const unsigned quota = detail::cgroup_cpu_quota();
    if (quota > 0 && (n == 0 || quota < n)) n = quota;
#endif
    return n > 0 ? n : 1u;
  }();
  return cores;
}

}  // namespace plait
