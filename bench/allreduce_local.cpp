// bench/run allreduce_local [--quick]: the local communicator's all-reduce over 2 host devices
// (2 threads, each with its own buffer) against the memory bandwidth of one thread copying the same
// number of bytes, measured alternately in one run (bench/README.md).
//
//   algbw = bytes / time,  busbw = algbw * 2 (n - 1) / n  (nccl-tests; n = 2 devices: busbw = algbw)
//   copy  = bytes / time of one std::memcpy of the same size on one thread
//
// An all-reduce of B bytes over 2 ranks moves, per rank, B (reduce: 2 sources of B/2 in, B/2 out
// in place) + B/2 in and out (gather): 2.5 B of traffic per rank on each of the 2 cores, against
// 2 B for one core's copy, so busbw / copy near 0.8 means both run at the same memory bandwidth.
// Each repetition first rewrites the buffers (untimed: the values would double every call), then
// times k calls; the time of one call is the median over repetitions, and a repetition runs from
// the moment both ranks are ready to the moment both are done.

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <plait/comm/host/local_group.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {
using clock_type = std::chrono::steady_clock;
constexpr std::size_t devices = 2;

struct stats {
  double median = 0, spread = 0;  // seconds per call; spread: interquartile range / median
};

stats summarise(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const auto at = [&](double q) { return t[std::size_t(q * double(t.size() - 1) + 0.5)]; };
  return {at(0.5), (at(0.75) - at(0.25)) / at(0.5)};
}

// Binds the calling thread to one CPU, as MPI and nccl-tests bind ranks: left to itself the
// scheduler sometimes starts both ranks on one core, and every sync then costs a context switch.
void pin_to_cpu(std::size_t cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Values in [1, 2) that differ per rank, element and repetition: never zeros.
void fill(std::vector<float>& v, std::size_t rank, std::size_t rep) {
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 1.0f + float((i * 7 + rank * 13 + rep) % 1024) / 1024.0f;
}

struct result {
  std::size_t bytes;
  stats reduce, copy;
};

// Alternates, repetition by repetition, k all-reduces on both ranks and k copies on rank 0's
// thread (rank 1 waits in the barrier meanwhile, asleep after its short spin).
result measure(std::size_t bytes, std::size_t reps, std::size_t warmup) {
  const std::size_t n = bytes / sizeof(float);
  const std::size_t k = std::clamp<std::size_t>((std::size_t(256) << 10) / bytes, 1, 64);  // values stay < 2^66
  plait::local_group group(devices);
  std::vector<clock_type::time_point> start(devices), stop(devices);
  std::vector<double> reduce_s, copy_s;
  const auto rank_main = [&](std::size_t r) {
    pin_to_cpu(r);
    plait::local_comm comm = group.comm(r);
    std::vector<float> buf(n);  // [n] @ rank r, first touched by its own thread
    std::vector<float> src, dst;
    if (r == 0) src.resize(n), dst.resize(n);
    for (std::size_t rep = 0; rep < warmup + reps; ++rep) {
      fill(buf, r, rep);
      comm.barrier();
      start[r] = clock_type::now();
      for (std::size_t i = 0; i < k; ++i) comm.all_reduce(buf.data(), n);
      stop[r] = clock_type::now();
      benchmark::DoNotOptimize(buf.data());
      comm.barrier();  // both timestamps are written
      if (r != 0) continue;
      const auto t0 = std::max(start[0], start[1]), t1 = std::max(stop[0], stop[1]);
      fill(src, 0, rep);
      const auto c0 = clock_type::now();
      for (std::size_t i = 0; i < k; ++i) {
        std::memcpy(dst.data(), src.data(), bytes);
        benchmark::ClobberMemory();
      }
      const auto c1 = clock_type::now();
      benchmark::DoNotOptimize(dst.data());
      if (rep < warmup) continue;
      reduce_s.push_back(std::chrono::duration<double>(t1 - t0).count() / double(k));
      copy_s.push_back(std::chrono::duration<double>(c1 - c0).count() / double(k));
    }
  };
  std::thread peer(rank_main, 1);
  rank_main(0);
  peer.join();
  return {bytes, summarise(reduce_s), summarise(copy_s)};
}

std::string human(std::size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else {
      std::fprintf(stderr, "plait: unknown option '%s'. allreduce_local takes only --quick. Fix: drop it.\n", argv[i]);
      return 2;
    }
  }
  std::printf(
      "local all-reduce, %zu host devices (threads pinned to CPUs 0..%zu), float32; copy = one thread's memcpy\n",
      devices, devices - 1);
  std::printf("%9s %12s %7s %10s %10s %10s %7s %10s\n", "size", "time/call", "spread", "algbw", "busbw", "copy",
              "spread", "busbw/copy");
  result last{};
  for (std::size_t bytes = 1u << 10; bytes <= (std::size_t(64) << 20); bytes *= 4) {
    const std::size_t full = std::clamp<std::size_t>((std::size_t(1) << 30) / bytes, 41, 301);
    const std::size_t reps = quick ? std::max<std::size_t>(full / 4, 11) : full;
    last = measure(bytes, reps, quick ? 2 : 5);
    const double algbw = double(bytes) / last.reduce.median / 1e9;
    const double busbw = algbw * 2.0 * double(devices - 1) / double(devices);
    const double copy = double(bytes) / last.copy.median / 1e9;
    std::printf("%9s %9.2f us %6.1f%% %5.2f GB/s %5.2f GB/s %5.2f GB/s %6.1f%% %10.2f\n", human(bytes).c_str(),
                last.reduce.median * 1e6, last.reduce.spread * 100, algbw, busbw, copy, last.copy.spread * 100,
                busbw / copy);
    std::fflush(stdout);
  }
  const double busbw = double(last.bytes) / last.reduce.median / 1e9 * 2.0 * double(devices - 1) / double(devices);
  const double copy = double(last.bytes) / last.copy.median / 1e9;
  std::printf("RESULT allreduce_local devices=%zu busbw_64mb_gbs=%.2f copy_64mb_gbs=%.2f busbw_over_copy=%.2f\n",
              devices, busbw, copy, busbw / copy);
}
