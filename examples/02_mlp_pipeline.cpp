// 02 — A two-part model on two devices: model parallelism, then a pipeline.
//
// An MLP cut in two (`cut` in the graph): layers before the cut on device 0, after it on device 1.
// First with one micro-batch (M = 1): plain model parallelism, where each device waits while the
// other works. Then with 8 micro-batches under 1F1B: while device 1 works on micro-batch k,
// device 0 already runs micro-batch k+1. Last, the zero-bubble schedule ZB-H1: each backward split
// into its input part, which goes back at once, and its weight part, run where the stage would wait.
// The example prints each schedule's planned bubble (a compile-time value), the measured one, and
// the time of a step.
//
//   build/examples/02_mlp_pipeline [--steps N] [--batch B] [--trace PREFIX]
//
// --trace PREFIX writes PREFIX_planned_<schedule>.json (the schedule before running) and
// PREFIX_executed_<schedule>.json (one executed step) for 1F1B and ZB-H1 at M = 8: open them in
// Perfetto to compare.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "options.hpp"

namespace {
using namespace plait;

// [docs:graph]
constexpr auto net = input<512> >> linear<512> >> relu >> linear<512> >> relu >> cut >> linear<512> >> relu >>
                     linear<512> >> relu >> linear<10>;
using graph = std::remove_const_t<decltype(net)>;
// [/docs:graph]

struct data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit data(std::size_t n) : x(n * 512), y(n) {
    splitmix64 rng(11);
    for (std::size_t i = 0; i < n; ++i) {
      y[i] = std::int32_t(rng.below(10));
      for (std::size_t j = 0; j < 512; ++j)
        x[i * 512 + j] = rng.uniform(-1, 1) + (j % 10 == std::size_t(y[i]) ? 0.5f : 0.0f);
    }
  }
};

template <class Policy>
int run(const char* label, int steps, std::size_t batch, const data& d, const std::string& trace) {
  // [docs:place]
  auto model = place<Policy>(net, host_devices(2), {.max_batch = batch, .seed = 1});
  // [/docs:place]
  auto opt = adam{.lr = 1e-3f};
  const samples<shape<512>> x{d.x.data(), batch};
  const class_labels y{d.y.data(), batch};
  float first = model.train_step(x, y, cross_entropy, opt), last = first;
  model.enable_trace(1 << 14);
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s < steps; ++s) last = model.train_step(x, y, cross_entropy, opt);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / std::max(1, steps - 1);
  const auto events = model.trace().events();
  double bubble = 0;
  for (int s = 1; s < steps; ++s) bubble += measured_bubble(events, s, 2);
  bubble /= std::max(1, steps - 1);
  std::printf(
      "%-24s %8.2f ms/step  bubble: schedule %.3f, planned for this graph %.3f, measured %.3f  loss %.3f -> %.4f\n",
      label, ms, Policy::bubble_fraction, Policy::template planned_timeline<graph>.bubble_fraction(), bubble, first,
      last);
  if (!trace.empty() && Policy::microbatch_count == 8) {
    write_planned_trace<Policy, graph>(trace + "_planned_" + Policy::schedule::name + ".json");
    model.write_trace(trace + "_executed_" + Policy::schedule::name + ".json");
  }
  return last < first ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) try {
  int steps = 20;
  std::size_t batch = 256;
  std::string trace;
  example_options("02_mlp_pipeline", "A two-part model on two devices: model parallelism, then a pipeline")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .add("--trace", trace, "write a Chrome trace of the last steps to FILE")
      .parse(argc, argv);
  const data d(batch);
  // [docs:stages]
  using model_parallel = pipeline<2, microbatches<1>>;
  using pipelined = pipeline<2, microbatches<8>, one_f_one_b>;
  constexpr auto stages = pipelined::stages<graph>;  // from the cut: layers [0, 3) and [3, 6)
  // [/docs:stages]
  // [docs:zb]
  using zero_bubble = pipeline<2, microbatches<8>, zb_h1>;  // B and W apart, W where a stage would wait
  static_assert(zero_bubble::splits_backward && zero_bubble::peak_inflight_microbatches[1] == 2);
  static_assert(zero_bubble::bubble_fraction < pipelined::bubble_fraction);  // 1/25 against 3/27 (F = B = W)
  // [/docs:zb]
  std::printf("stage 0: layers [%zu, %zu) on device 0; stage 1: layers [%zu, %zu) on device 1\n", stages[0].first,
              stages[0].last, stages[1].first, stages[1].last);
  std::printf("1F1B keeps at most %zu and %zu micro-batches in flight (GPipe: 8); %zu bytes sent per sample\n",
              pipelined::peak_inflight_microbatches[0], pipelined::peak_inflight_microbatches[1],
              pipelined::floats_sent_per_sample<graph> * sizeof(float));
  int rc = run<model_parallel>("M = 1 (model parallel)", steps, batch, d, trace);
  rc |= run<pipelined>("M = 8, one_f_one_b", steps, batch, d, trace);
  std::printf("ZB-H1 keeps at most %zu and %zu micro-batches in flight, each until its weight part\n",
              zero_bubble::peak_inflight_microbatches[0], zero_bubble::peak_inflight_microbatches[1]);
  rc |= run<zero_bubble>("M = 8, zb_h1", steps, batch, d, trace);
  return rc;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
