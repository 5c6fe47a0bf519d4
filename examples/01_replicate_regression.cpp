// 01 — Data-parallel regression: replicate<2> on two host devices.
//
// A linear model (10 inputs -> 1 output) learns a known linear map from noisy synthetic data with
// MSE and SGD. Each step the global batch is split over the two replicas, each computes the
// gradient of its half, the halves are summed by an all-reduce, and both replicas take the same
// step. At the end the example prints how close the learned weights are to the true ones.
//
//   build/examples/01_replicate_regression [--steps N] [--trace FILE]

#include <cmath>
#include <cstdio>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "options.hpp"

int main(int argc, char** argv) try {
  using namespace plait;
  int steps = 300;
  std::string trace;
  example_options("01_replicate_regression", "data-parallel linear regression on two host devices")
      .add("--steps", steps, "training steps")
      .add("--trace", trace, "write the last steps as a Chrome trace to FILE")
      .parse(argc, argv);

  // The answer the model should find: y = w . x + b, plus a little noise.
  const float true_w[10] = {0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -0.5f, 0.25f, -2.0f, 1.0f, 0.75f};
  const float true_b = 0.3f;
  constexpr std::size_t n = 4096, batch = 256;
  std::vector<float> x(n * 10), y(n);
  splitmix64 rng(2024);
  for (std::size_t i = 0; i < n; ++i) {
    float t = true_b;
    for (std::size_t j = 0; j < 10; ++j) t += true_w[j] * (x[i * 10 + j] = rng.uniform(-1, 1));
    y[i] = t + rng.uniform(-0.01f, 0.01f);
  }

  // [docs:replicate]
  constexpr auto net = input<10> >> linear<1>;
  auto model = place<replicate<2>>(net, host_devices(2), {.max_batch = batch});
  auto opt = sgd{.lr = 0.1f, .momentum = 0.9f};
  progress bar({.metric = "mse", .steps = std::size_t(steps), .every = 50});  // a line every 50 steps
  bar.begin_epoch(0);
  for (int s = 0; s < steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % n;  // the global batch; each replica gets half
    bar.step(batch, model.train_step(samples<shape<10>>{x.data() + at * 10, batch},
                                     samples<shape<1>>{y.data() + at, batch}, mse, opt));
    if (!trace.empty() && s + 2 == steps) model.enable_trace();
  }
  bar.end_epoch();
  // [/docs:replicate]

  const auto p = model.layer_parameters<0>();  // w[0..9], then b
  double worst = std::abs(p[10] - true_b);
  for (std::size_t j = 0; j < 10; ++j) worst = std::max(worst, double(std::abs(p[j] - true_w[j])));
  std::printf("largest error of a learned weight: %.4f (the noise is +-0.01)\n", worst);
  if (!trace.empty()) {
    model.write_trace(trace);
    std::printf("trace of the last step: %s\n", trace.c_str());
  }
  return worst < 0.02 ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
