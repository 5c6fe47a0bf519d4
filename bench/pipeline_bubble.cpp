// bench/run pipeline_bubble: the pipeline bubble, measured against the formula.
//
// An MLP of 8 equal layers (512 -> 512, relu between, MSE loss on random targets), batch 1024, on
// 2 host devices of one thread each: pipeline<2, microbatches<m>, S> for m in {1, 2, 4, 8, 16} and
// both schedules, against single_device on one thread. Steps of every configuration are timed in
// alternating rounds in one run. The measured bubble is read from the executed trace (idle share
// of each step: 1 - busy / step time, averaged over the stages) and set beside (p-1)/(m+p-1).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <plait/plait.hpp>
#include <vector>

namespace {
using namespace plait;
using clock_type = std::chrono::steady_clock;

constexpr auto layer = linear<512> >> relu;
constexpr auto mlp = input<512> >> layer >> layer >> layer >> layer >> layer >> layer >> layer >> linear<512>;
constexpr std::size_t batch = 1024;  // micro-batches of 64..1024 rows: GEMMs large enough to run near the SGEMM rate

struct data {
  std::vector<float> x = std::vector<float>(batch * 512), t = std::vector<float>(batch * 512);
  data() {
    splitmix64 rng(9);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : t) v = rng.uniform(-1, 1);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct config {
  const char* schedule;
  std::size_t m;
  double formula;
  std::vector<double> ms, bubble;
  double (*round)(const data&, int, double&);
};

// One round: `steps` timed steps; returns ms per step and the mean measured bubble.
template <class Model>
double time_steps(Model& model, const data& d, int steps, double& bubble) {
  auto opt = sgd{.lr = 1e-3f};
  const samples<shape<512>> x{d.x.data(), batch};
  const samples<shape<512>> t{d.t.data(), batch};
  model.enable_trace(1 << 12);
  const std::size_t first = model.steps();
  const auto t0 = clock_type::now();
  for (int s = 0; s < steps; ++s) model.train_step(x, t, mse, opt);
  const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count() / steps;
  const auto events = model.trace().events();
  bubble = 0;
  for (int s = 0; s < steps; ++s) bubble += measured_bubble(events, std::int32_t(first + s), 2);
  bubble /= steps;
  return ms;
}

template <class Policy>
double round_of(const data& d, int steps, double& bubble) {
  static auto model = [] {
    auto m = place<Policy>(mlp, host_devices(Policy::device_count, 1), {.max_batch = batch, .seed = 1});
    return m;
  }();
  static bool warm = false;
  if (!warm) {
    double ignored;
    time_steps(model, d, 2, ignored);  // plans optimizer state, faults pages in
    warm = true;
  }
  return time_steps(model, d, steps, bubble);
}

template <std::size_t M, class S>
config make(const char* name) {
  return {name, M, double(1) / double(M + 1), {}, {}, &round_of<pipeline<2, microbatches<M>, S>>};
}
}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int rounds = quick ? 3 : 7, steps = quick ? 2 : 4;
  const data d;
  std::vector<config> configs{make<1, gpipe>("gpipe"),
                              make<2, gpipe>("gpipe"),
                              make<4, gpipe>("gpipe"),
                              make<8, gpipe>("gpipe"),
                              make<16, gpipe>("gpipe"),
                              make<1, one_f_one_b>("one_f_one_b"),
                              make<2, one_f_one_b>("one_f_one_b"),
                              make<4, one_f_one_b>("one_f_one_b"),
                              make<8, one_f_one_b>("one_f_one_b"),
                              make<16, one_f_one_b>("one_f_one_b")};
  std::vector<double> single;
  for (int r = 0; r < rounds; ++r) {
    double ignored;
    single.push_back(round_of<single_device>(d, steps, ignored));
    for (auto& c : configs) {
      double bubble;
      c.ms.push_back(c.round(d, steps, bubble));
      c.bubble.push_back(bubble);
    }
  }
  const double one = median(single);
  std::printf(
      "pipeline_bubble: MLP of 8 layers 512x512, batch %zu, p = 2 host devices (1 thread each) vs 1 device, "
      "%d rounds x %d steps\n",
      batch, rounds, steps);
  std::printf("single device: %.2f ms/step\n", one);
  std::printf("%-12s %4s %12s %9s %16s %10s %8s\n", "schedule", "m", "ms/step", "speedup", "bubble measured", "formula",
              "error");
  double worst = 0, speedup_m8 = 0, speedup_m8_gpipe = 0;
  for (const auto& c : configs) {
    const double ms = median(c.ms), b = median(c.bubble), err = std::abs(b - c.formula);
    worst = std::max(worst, err);
    if (c.m == 8 && c.schedule[0] == 'o') speedup_m8 = one / ms;
    if (c.m == 8 && c.schedule[0] == 'g') speedup_m8_gpipe = one / ms;
    std::printf("%-12s %4zu %12.2f %9.2f %16.3f %10.3f %8.3f\n", c.schedule, c.m, ms, one / ms, b, c.formula, err);
  }
  std::printf(
      "RESULT pipeline_bubble p=2 batch=%zu single_ms=%.3f max_bubble_error=%.3f speedup_m8=%.3f "
      "speedup_m8_gpipe=%.3f\n",
      batch, one, worst, speedup_m8, speedup_m8_gpipe);
}
