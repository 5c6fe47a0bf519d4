// 10 — A 2 x 2 device mesh: two data-parallel replicas of a two-stage pipeline, on four host devices.
//
//   replicate<2, pipeline<2, microbatches<4>, one_f_one_b>>
//
//   device 0: replica 0, stage 0      device 1: replica 0, stage 1
//   device 2: replica 1, stage 0      device 3: replica 1, stage 1
//
// The innermost policy varies fastest over the devices. Each replica trains on half of the batch,
// cut into 4 micro-batches that flow through its two stages (activations forward, gradients back,
// in 1F1B order); then each stage's gradient is all-reduced with the same stage of the other
// replica (devices 0 and 2, devices 1 and 3), and every device steps. All four programs, with their
// messages and both groups' collectives, are verified together when this file compiles.
//
// The task: 8 classes of points in [-1, 1]^20, the class being the arg-max of a fixed random
// two-layer network (a "teacher").
//
//   build/examples/10_hybrid_mesh [--steps N] [--batch B] [--trace FILE]
//
// Prints each device's generated program, writes the executed trace of the last step (Perfetto),
// and exits 0 when held-out accuracy reaches 75%.

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

constexpr std::size_t features = 20, hidden = 12, classes = 8;

struct teacher_data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  teacher_data(std::size_t n, std::uint64_t seed) : x(n * features), y(n) {
    splitmix64 teacher(11), rng(seed);
    float a[hidden][features], b[classes][hidden];
    for (auto& row : a)
      for (auto& v : row) v = teacher.uniform(-1, 1);
    for (auto& row : b)
      for (auto& v : row) v = teacher.uniform(-1, 1);
    for (std::size_t i = 0; i < n; ++i) {
      float* xi = x.data() + i * features;
      for (std::size_t j = 0; j < features; ++j) xi[j] = rng.uniform(-1, 1);
      float h[hidden], best = -1e30f;
      for (std::size_t k = 0; k < hidden; ++k) {
        float s = 0;
        for (std::size_t j = 0; j < features; ++j) s += a[k][j] * xi[j];
        h[k] = std::tanh(s);
      }
      for (std::size_t c = 0; c < classes; ++c) {
        float s = 0;
        for (std::size_t k = 0; k < hidden; ++k) s += b[c][k] * h[k];
        if (s > best) best = s, y[i] = std::int32_t(c);
      }
    }
  }
  samples<shape<features>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * features, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
  std::size_t size() const { return y.size(); }
};
}  // namespace

int main(int argc, char** argv) try {
  int steps = 800;
  std::size_t batch = 64;
  std::string trace = "10_hybrid_mesh_trace.json";
  example_options("10_hybrid_mesh",
                  "A 2 x 2 device mesh: two data-parallel replicas of a two-stage pipeline, on four host devices")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .add("--trace", trace, "write a Chrome trace of the last steps to FILE")
      .parse(argc, argv);
  const teacher_data train(8192, 1), test(2048, 2);

  // [docs:mesh]
  constexpr auto net = input<20> >> linear<64> >> relu >> linear<64> >> relu  // stage 0
                       >> cut >> linear<64> >> relu >> linear<8>;             // stage 1
  using policy = replicate<2, pipeline<2, microbatches<4>, one_f_one_b>>;     // 2 replicas x 2 stages
  auto model = place<policy>(net, host_devices(4), {.max_batch = batch, .seed = 9});
  // [/docs:mesh]

  using graph = std::remove_const_t<decltype(net)>;
  for (std::size_t d = 0; d < policy::device_count; ++d)
    std::printf("device %zu (replica %zu, stage %zu): %s\n", d, d / 2, d % 2,
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
  // The two replicas of each stage hold the same parameters, bit for bit.
  const bool identical = std::ranges::equal(model.parameters(0), model.parameters(2)) &&
                         std::ranges::equal(model.parameters(1), model.parameters(3));
  std::printf("held-out (%zu samples): loss %.4f, accuracy %.3f  (%.3f ms/step); replicas %s; trace: %s\n", after.count,
              after.loss, after.accuracy, ms / std::max(1, steps), identical ? "identical" : "DIFFERENT",
              trace.c_str());
  return after.accuracy > 0.75 && identical ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
