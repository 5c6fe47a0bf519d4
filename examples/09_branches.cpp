// 09 — Two branches at the same depth, on two devices, concatenated.
//
//   device 0:  linear 16 -> 64, relu, linear 64 -> 32, tanh     (one branch)
//   device 1:  linear 16 -> 48, gelu                            (the other)
//   both:      concat [32 + 48], then linear 80 -> 6            (after the branches)
//
// `concat(a, b)` is one layer of the graph whose branches read the same input. Under partition<2>
// each device runs one branch and keeps only that branch's parameters; one all-reduce joins the
// outputs (each device fills its own columns), and in backward one all-reduce sums the gradients
// the branches pass to their common input. Everything else runs on both devices alike.
//
// The task: 6 classes, the class of x in [-1, 1]^16 being the arg-max of |A x| for a fixed random
// A [6, 16]: one branch alone (a linear map) cannot see the absolute values well, the pair can.
//
//   build/examples/09_branches [--steps N] [--batch B] [--trace FILE]
//
// Prints each device's generated program, writes the executed trace of the last step (Perfetto),
// and exits 0 when held-out accuracy reaches 80%.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "options.hpp"

namespace {
using namespace plait;

constexpr std::size_t features = 16, classes = 6;

struct teacher_data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  teacher_data(std::size_t n, std::uint64_t seed) : x(n * features), y(n) {
    splitmix64 teacher(3), rng(seed);
    float a[classes][features];
    for (auto& row : a)
      for (auto& v : row) v = teacher.uniform(-1, 1);
    for (std::size_t i = 0; i < n; ++i) {
      float* xi = x.data() + i * features;
      for (std::size_t j = 0; j < features; ++j) xi[j] = rng.uniform(-1, 1);
      float best = -1;
      for (std::size_t c = 0; c < classes; ++c) {
        float s = 0;
        for (std::size_t j = 0; j < features; ++j) s += a[c][j] * xi[j];
        if (std::abs(s) > best) best = std::abs(s), y[i] = std::int32_t(c);
      }
    }
  }
  samples<shape<features>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * features, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
  std::size_t size() const { return y.size(); }
};
}  // namespace

int main(int argc, char** argv) try {
  int steps = 600;
  std::size_t batch = 64;
  std::string trace = "09_branches_trace.json";
  example_options("09_branches", "Two branches at the same depth, on two devices, concatenated")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .add("--trace", trace, "write a Chrome trace of the last steps to FILE")
      .parse(argc, argv);
  const teacher_data train(8192, 1), test(2048, 2);

  // [docs:branches]
  constexpr auto net = input<16> >> concat(linear<64> >> relu >> linear<32> >> plait::tanh,  // device 0
                                           linear<48> >> gelu)                               // device 1
                       >> linear<6>;
  using policy = partition<2>;  // a concat of 2 branches over 2 devices: one branch each
  auto model = place<policy>(net, host_devices(2), {.max_batch = batch, .seed = 5});
  // [/docs:branches]

  using graph = std::remove_const_t<decltype(net)>;
  for (std::size_t d = 0; d < policy::device_count; ++d)
    std::printf("device %zu: %4zu parameter floats, program: %s\n", d, model.parameters(d).size(),
                summary(policy::programs<graph>[d]).c_str());

  auto opt = adam{.lr = 0.003f};
  const auto t0 = std::chrono::steady_clock::now();
  progress bar({.steps = std::size_t(steps), .every = 200});  // each line: the mean loss of its 200 steps
  bar.begin_epoch(0);
  for (int s = 0; s < steps; ++s) {
    if (s + 1 == steps) model.enable_trace();
    const std::size_t at = (std::size_t(s) * batch) % (train.size() - batch + 1);
    bar.step(batch, model.train_step(train.xs(at, batch), train.ys(at, batch), cross_entropy, opt));
  }
  bar.end_epoch();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  model.write_trace(trace);
  const auto after = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  std::printf("held-out (%zu samples): loss %.4f, accuracy %.3f  (%.3f ms/step); trace of the last step: %s\n",
              after.count, after.loss, after.accuracy, ms / std::max(1, steps), trace.c_str());
  return after.accuracy > 0.80 ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
