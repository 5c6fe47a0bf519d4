// bench/run replicate_scaling: data-parallel scaling on host devices.
//
// MLP 784 -> 1024 -> 1024 -> 10, global batch 512, SGD, each device one thread: replicate<2> on two
// host devices against replicate<1> on one, the same global batches, timed alternately in one run
// (rounds of a few steps each; median over rounds). speedup = time(replicate<1>) / time(replicate<2>).
//
// The machine's parallel ceiling, in the same rounds (bench/parallel_ceiling.hpp): the step's GEMMs
// as replicate<2> gives them to each device (the MLP's forward, weight- and input-gradient
// products at 256 rows) on two threads with nothing shared, against both devices' GEMMs on one
// thread. efficiency = speedup / ceiling: 1 means replicate<2> gains all this machine's two cores
// can give the same products.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "parallel_ceiling.hpp"

namespace {
using namespace plait;
using clock_type = std::chrono::steady_clock;

constexpr auto mlp = input<784> >> linear<1024> >> relu >> linear<1024> >> relu >> linear<10>;
constexpr std::size_t batch = 512;

struct data {
  std::vector<float> x = std::vector<float>(batch * 784);
  std::vector<std::int32_t> y = std::vector<std::int32_t>(batch);
  data() {
    splitmix64 rng(5);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(10));
  }
};

template <class Model>
double seconds_per_step(Model& m, const data& d, int steps) {
  auto opt = sgd{.lr = 0.01f};
  const samples<shape<784>> x{d.x.data(), batch};
  const class_labels y{d.y.data(), batch};
  const auto t0 = clock_type::now();
  for (int s = 0; s < steps; ++s) m.train_step(x, y, cross_entropy, opt);
  return std::chrono::duration<double>(clock_type::now() - t0).count() / steps;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string trace;  // --trace PATH: replicate<2>'s executed trace of a few steps after the rounds
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--quick") == 0) quick = true;
    if (std::strcmp(argv[a], "--trace") == 0 && a + 1 < argc) trace = argv[++a];
  }
  const int rounds = quick ? 5 : 9, steps = quick ? 3 : 10;
  const data d;
  auto one = place<replicate<1>>(mlp, host_devices(1, 1), {.max_batch = batch, .seed = 1});
  auto two = place<replicate<2>>(mlp, host_devices(2, 1), {.max_batch = batch, .seed = 1});
  seconds_per_step(one, d, 2);  // warm-up: plans optimizer state, faults pages in
  seconds_per_step(two, d, 2);
  const auto widths = plait_bench::linear_widths<graph_layout<std::remove_const_t<decltype(mlp)>>>();
  plait_bench::parallel_ceiling gemms(
      {plait_bench::mlp_step(widths, int(batch / 2)), plait_bench::mlp_step(widths, int(batch / 2))});
  std::vector<double> t1, t2;
  for (int r = 0; r < rounds; ++r) {
    t1.push_back(seconds_per_step(one, d, steps));
    t2.push_back(seconds_per_step(two, d, steps));
    gemms.round(steps);
  }
  if (!trace.empty()) {
    two.enable_trace(1 << 10);
    seconds_per_step(two, d, steps);
    two.write_trace(trace);
  }
  const double m1 = median(t1), m2 = median(t2), ceiling = gemms.ceiling(), speedup = m1 / m2;
  const auto [lo1, hi1] = std::minmax_element(t1.begin(), t1.end());
  const auto [lo2, hi2] = std::minmax_element(t2.begin(), t2.end());
  std::printf(
      "replicate_scaling: MLP 784-1024-1024-10, global batch %zu, SGD, 1 thread per device, %d rounds x %d steps\n",
      batch, rounds, steps);
  std::printf("%-14s %8s %22s %14s\n", "policy", "devices", "ms/step [min..max]", "samples/s");
  std::printf("%-14s %8d %8.2f [%.2f..%.2f] %14.0f\n", "replicate<1>", 1, m1 * 1e3, *lo1 * 1e3, *hi1 * 1e3, batch / m1);
  std::printf("%-14s %8d %8.2f [%.2f..%.2f] %14.0f\n", "replicate<2>", 2, m2 * 1e3, *lo2 * 1e3, *hi2 * 1e3, batch / m2);
  std::printf("ceiling: the step's GEMMs (%s), 1 thread %.2f ms, 2 threads %.2f ms: %.3f; efficiency %.3f\n",
              gemms.describe().c_str(), gemms.median(gemms.serial), gemms.median(gemms.parallel), ceiling,
              speedup / ceiling);
  std::printf(
      "RESULT replicate_scaling devices=2 batch=%zu ms_1=%.3f ms_2=%.3f speedup=%.3f ceiling=%.3f efficiency=%.3f\n",
      batch, m1 * 1e3, m2 * 1e3, speedup, ceiling, speedup / ceiling);
}
