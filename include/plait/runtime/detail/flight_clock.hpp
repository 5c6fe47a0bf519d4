#pragma once
// flight_clock: the flight recorder's clock (runtime/flight_recorder.hpp). Every instruction a device
// runs reads it twice, so it is the cheapest monotonic clock there is: the CPU's time-stamp counter
// where it ticks at a constant rate whatever the core's frequency and sleep state (x86-64 with an
// invariant TSC: a read takes about 10 ns, clock_gettime about 25 ns on the VMs of bench/README.md),
// else CLOCK_MONOTONIC's nanoseconds. Records keep ticks; the recorder turns them into CLOCK_MONOTONIC
// nanoseconds when it writes its file, at the rate the two clocks kept between the recorder's creation
// and the writing (a reading of both at each).

#include <time.h>

#include <cstdint>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define PLAIT_FLIGHT_TSC 1
#endif

namespace plait::flight_detail {

class flight_clock {
 public:
  flight_clock() : tsc_(invariant_tsc()), tick0_(ticks()), ns0_(monotonic_ns()) {}

  /// Now, in ticks (async-signal-safe).
  std::int64_t ticks() const noexcept {
#ifdef PLAIT_FLIGHT_TSC
    if (tsc_) return std::int64_t(__builtin_ia32_rdtsc());
#endif
    return monotonic_ns();
  }
  /// Whether ticks are the time-stamp counter's (else they are nanoseconds already).
  bool counts_cycles() const { return tsc_; }
  /// A reading `tick` of ticks() in CLOCK_MONOTONIC nanoseconds, from `tick1` and `ns1` read together
  /// just now; 0 (no reading) stays 0.
  std::int64_t to_ns(std::int64_t tick, std::int64_t tick1, std::int64_t ns1) const noexcept {
    if (!tsc_ || tick == 0) return tick;
    const double per_tick = tick1 > tick0_ ? double(ns1 - ns0_) / double(tick1 - tick0_) : 0.0;
    return ns1 - std::int64_t(double(tick1 - tick) * per_tick);
  }
  static std::int64_t monotonic_ns() noexcept {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);  // async-signal-safe; std::chrono::steady_clock's clock
    return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
  }

 private:
  static bool invariant_tsc() {
#ifdef PLAIT_FLIGHT_TSC
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return false;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d & (1u << 8)) != 0;  // CPUID.80000007H:EDX[8], invariant TSC
#else
    return false;
#endif
  }

  bool tsc_;
  std::int64_t tick0_, ns0_;  // ticks() and CLOCK_MONOTONIC read together at creation
};

}  // namespace plait::flight_detail
