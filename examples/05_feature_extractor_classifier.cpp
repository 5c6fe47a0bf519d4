// 05 — A feature extractor on one device, a classifier on another.
//
// The convolutional part (conv 3 -> 16 channels, relu, 2x2 max-pool) runs on device 0 and the
// classifier (flatten, linear to 10 classes) on device 1; the `cut` in the graph is where the
// activations, [16, 8, 8] per sample, move from one device to the other (and their gradients back).
//
// The same graph runs under two policies:
//   pipeline<2, microbatches<1>, one_f_one_b>  plain model parallelism: each device waits while the
//                                              other works on the whole batch;
//   pipeline<2, microbatches<4>, one_f_one_b>  the batch cut into 4 micro-batches, so device 0
//                                              extracts features of micro-batch k+1 while device 1
//                                              classifies micro-batch k.
// The example prints the stages, the schedule's figures (compile-time values) and the measured time
// of a step for each.
//
// The task: 16x16 images of 3 channels, noise plus one bright 4x4 square; the class (10 of them)
// says where the square is and in which channel.
//
//   build/examples/05_feature_extractor_classifier [--steps N] [--batch B]
//
// Exit code 0 when both policies reach 90% held-out accuracy.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <vector>

#include "options.hpp"

namespace {
using namespace plait;

// [docs:graph]
constexpr auto net = input<3, 16, 16> >> conv2d<16, 3, 1, 1> >> relu >> maxpool2d<2>  // device 0: features
                     >> cut >> flatten >> linear<10>;                                 // device 1: classes
using graph = std::remove_const_t<decltype(net)>;
// [/docs:graph]

constexpr std::size_t pixels = 3 * 16 * 16;

// Class c: a bright 4x4 square in cell c of a 4x4 grid of cells (cells 0..9), in channel c % 3.
struct squares {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  squares(std::size_t n, std::uint64_t seed) : x(n * pixels), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = std::size_t(rng.below(10));
      y[i] = std::int32_t(c);
      float* img = x.data() + i * pixels;  // [3, 16, 16]
      for (std::size_t j = 0; j < pixels; ++j) img[j] = rng.uniform(-0.5f, 0.5f);
      const std::size_t top = 4 * (c / 4), left = 4 * (c % 4);
      for (std::size_t h = 0; h < 4; ++h)
        for (std::size_t w = 0; w < 4; ++w) img[(c % 3) * 256 + (top + h) * 16 + left + w] += 1.0f;
    }
  }
  samples<shape<3, 16, 16>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * pixels, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
  std::size_t size() const { return y.size(); }
};

template <class Policy>
bool run(const char* label, int steps, std::size_t batch, const squares& train, const squares& test) {
  // [docs:place]
  auto model = place<Policy>(net, host_devices(2), {.max_batch = batch, .seed = 5});
  // [/docs:place]
  auto opt = adam{.lr = 3e-3f};
  double first = 0, ms = 0;
  float loss = 0;
  for (int s = 0; s < steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % (train.size() - batch + 1);
    const auto t0 = std::chrono::steady_clock::now();
    loss = model.train_step(train.xs(at, batch), train.ys(at, batch), cross_entropy, opt);
    if (s > 0) ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    else first = loss;
  }
  const auto result = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  std::printf("%-34s %7.2f ms/step  loss %.3f -> %.3f  held-out accuracy %.3f\n", label, ms / std::max(1, steps - 1),
              first, loss, result.accuracy);
  return result.accuracy > 0.9;
}
}  // namespace

int main(int argc, char** argv) try {
  int steps = 120;
  std::size_t batch = 64;
  example_options("05_feature_extractor_classifier", "A feature extractor on one device, a classifier on another")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .parse(argc, argv);
  const squares train(4096, 1), test(512, 2);

  // [docs:policies]
  using model_parallel = pipeline<2, microbatches<1>, one_f_one_b>;
  using pipelined = pipeline<2, microbatches<4>, one_f_one_b>;
  constexpr auto stages = pipelined::stages<graph>;  // from the cut: layers [0, 4) and [4, 6)
  // [/docs:policies]
  using layout = graph_layout<graph>;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    std::size_t params = 0, flops = 0;
    for (std::size_t i = stages[s].first; i < stages[s].last; ++i) {
      params += layout::param_sizes[i];
      flops += layout::layer_flops<>[i];
    }
    std::printf("device %zu: layers [%zu, %zu), %5zu parameters, %.3f MFLOP per sample forward\n", s, stages[s].first,
                stages[s].last, params, double(flops) / 1e6);
  }
  std::printf("sent per sample and step: %zu floats (the [16, 8, 8] features forward, their gradient back)\n",
              pipelined::floats_sent_per_sample<graph>);
  std::printf(
      "bubble with equal stages: M = 1 %.3f, M = 4 %.3f; activations in flight on device 0: M = 1 %zu, "
      "M = 4 %zu\n",
      model_parallel::bubble_fraction, pipelined::bubble_fraction, model_parallel::peak_inflight_microbatches[0],
      pipelined::peak_inflight_microbatches[0]);
  // The stages here are far from equal (device 1 does a tenth of the work), so the plan from this
  // graph's FLOPs is what to expect: device 0 is busy either way and M = 4 can save little. (A
  // planned timeline costs each micro-batch a whole sample's FLOPs: divide its step by M.)
  constexpr auto plan1 = model_parallel::planned_timeline<graph>;
  constexpr auto plan4 = pipelined::planned_timeline<graph>;
  std::printf("planned for this graph: bubble M = 1 %.3f, M = 4 %.3f; step time of M = 4 over M = 1: %.3f\n",
              plan1.bubble_fraction(), plan4.bubble_fraction(), plan4.step / 4 / plan1.step);

  bool ok = run<model_parallel>("M = 1 (model parallel)", steps, batch, train, test);
  ok &= run<pipelined>("M = 4, one_f_one_b (pipelined)", steps, batch, train, test);
  return ok ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
