// bench/run allreduce_mpi [--quick]: plait's mpi_comm::all_reduce (MPI_Iallreduce polled against its
// deadline) against a plain blocking MPI_Allreduce, on the same buffers and the same communicator,
// alternating within one run (bench/README.md). Launched as mpiexec -np 2 by bench/run.
//
//   ratio = time of MPI_Allreduce / time of plait's all_reduce   (1.0: no cost; target >= 0.9 at 64 MiB)
//   extra = time of plait's all_reduce - time of MPI_Allreduce    (target <= 10 us at 1 KiB)
//
// Each repetition rewrites the buffer (untimed: the values double every call), waits at a barrier,
// and times k calls; which of the two goes first alternates between repetitions. A repetition's time
// is the slowest rank's; the table shows the median over repetitions and the spread (interquartile
// range / median).

#include <benchmark/benchmark.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <plait/mpi.hpp>
#include <string>
#include <vector>

namespace {

struct stats {
  double median = 0, spread = 0;  // seconds per call; spread: interquartile range / median
};

stats summarise(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const auto at = [&](double q) { return t[std::size_t(q * double(t.size() - 1) + 0.5)]; };
  return {at(0.5), (at(0.75) - at(0.25)) / at(0.5)};
}

// Values in [1, 2) that differ per rank, element and repetition: never zeros.
void fill(std::vector<float>& v, std::size_t rank, std::size_t rep) {
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 1.0f + float((i * 7 + rank * 13 + rep) % 1024) / 1024.0f;
}

struct result {
  std::size_t bytes;
  stats plait, raw;
};

result measure(plait::mpi_comm& comm, std::size_t bytes, std::size_t reps, std::size_t warmup) {
  const std::size_t n = bytes / sizeof(float);
  const std::size_t k = std::clamp<std::size_t>((std::size_t(256) << 10) / bytes, 1, 32);  // values stay < 2^40
  std::vector<float> buf(n);  // [n] @ every rank: the buffer both all-reduce
  std::vector<double> plait_s, raw_s;
  const auto timed = [&](bool use_plait, std::size_t rep) {
    fill(buf, comm.rank(), rep);
    plait::mpi_detail::check(MPI_Barrier(comm.native()), "MPI_Barrier");
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < k; ++i) {
      if (use_plait) comm.all_reduce(buf.data(), n);
      else
        plait::mpi_detail::check(MPI_Allreduce(MPI_IN_PLACE, buf.data(), int(n), MPI_FLOAT, MPI_SUM, comm.native()),
                                 "MPI_Allreduce");
    }
    double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(k), slowest = 0;
    benchmark::DoNotOptimize(buf.data());
    plait::mpi_detail::check(MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm.native()), "MPI_Allreduce");
    return slowest;
  };
  for (std::size_t rep = 0; rep < warmup + reps; ++rep) {
    const bool plait_first = rep % 2 == 0;
    const double a = timed(plait_first, rep), b = timed(!plait_first, rep);
    if (rep < warmup) continue;
    plait_s.push_back(plait_first ? a : b);
    raw_s.push_back(plait_first ? b : a);
  }
  return {bytes, summarise(plait_s), summarise(raw_s)};
}

std::string human(std::size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

int main(int argc, char** argv) {
  return plait::run_or_abort([&] {
    plait::mpi_world world(&argc, &argv);
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--quick") == 0) quick = true;
      else plait::fail(std::string("unknown option '") + argv[i] + "'", "allreduce_mpi takes only --quick", "drop it");
    }
    plait::mpi_comm comm(world);
    const std::size_t ranks = comm.size();
    const bool print = comm.rank() == 0;
    if (print) {
      char version[MPI_MAX_LIBRARY_VERSION_STRING];
      int length = 0;
      MPI_Get_library_version(version, &length);
      std::printf(
          "all-reduce over %zu MPI ranks, float32, in place: plait's mpi_comm vs MPI_Allreduce on the same buffers\n",
          ranks);
      std::printf("MPI: %.*s\n", int(std::strcspn(version, "\n")), version);
      std::printf("%9s %12s %7s %12s %7s %7s %10s %11s\n", "size", "plait", "spread", "MPI", "spread", "ratio", "extra",
                  "busbw plait");
    }
    result first{}, last{};
    for (std::size_t bytes = 1u << 10; bytes <= (std::size_t(64) << 20); bytes *= 4) {
      const std::size_t full = std::clamp<std::size_t>((std::size_t(1) << 30) / bytes, 21, 301);
      const std::size_t reps = quick ? std::max<std::size_t>(full / 8, 7) : full;
      last = measure(comm, bytes, reps, quick ? 1 : 3);
      if (bytes == (1u << 10)) first = last;
      const double busbw = double(bytes) / last.plait.median / 1e9 * 2.0 * double(ranks - 1) / double(ranks);
      if (print)
        std::printf("%9s %9.2f us %6.1f%% %9.2f us %6.1f%% %7.2f %7.2f us %6.2f GB/s\n", human(bytes).c_str(),
                    last.plait.median * 1e6, last.plait.spread * 100, last.raw.median * 1e6, last.raw.spread * 100,
                    last.raw.median / last.plait.median, (last.plait.median - last.raw.median) * 1e6, busbw);
      std::fflush(stdout);
    }
    if (print)
      std::printf(
          "RESULT allreduce_mpi ranks=%zu ratio_64mb=%.2f extra_us_1kb=%.2f plait_us_1kb=%.2f mpi_us_1kb=%.2f plait_ms_64mb=%.2f mpi_ms_64mb=%.2f\n",
          ranks, last.raw.median / last.plait.median, (first.plait.median - first.raw.median) * 1e6,
          first.plait.median * 1e6, first.raw.median * 1e6, last.plait.median * 1e3, last.raw.median * 1e3);
    return 0;
  });
}
