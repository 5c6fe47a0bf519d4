// The C++ half of `bench/run conv_vs_torch`: one training step of example 04's model (a residual
// CNN block with a projection shortcut, max-pooling and a linear classifier) on 32x32x3 images,
// batch 32, SGD. bench/conv_vs_torch.py runs this binary and PyTorch alternately and reports the
// ratio. Thread count from the environment (PLAIT_BENCH_THREADS, OPENBLAS_NUM_THREADS).

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <plait/layers/residual.hpp>
#include <plait/plait.hpp>
#include <vector>

namespace {
using namespace plait;

unsigned threads() {
  const char* t = std::getenv("PLAIT_BENCH_THREADS");
  return t ? unsigned(std::atoi(t)) : 1u;
}

constexpr std::size_t batch = 32, classes = 12;
// Example 04's model, layer for layer.
constexpr auto net =
    input<3, 32, 32> >>
    residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1> >> batchnorm2d, conv2d<16, 1>) >> relu
    >> maxpool2d<4> >> flatten >> linear<classes>;

// Inputs uniform in [0, 1), labels uniform over the classes: never zeros.
void plait_step_resblock(benchmark::State& state) {
  auto model = place(net, host_device(threads()), {.max_batch = batch, .seed = 1});
  std::vector<float> x(batch * 3 * 32 * 32);
  std::vector<std::int32_t> y(batch);
  splitmix64 rng(123);
  for (auto& v : x) v = rng.uniform01();
  for (auto& v : y) v = std::int32_t(rng.below(classes));
  auto opt = sgd{.lr = 0.01f};
  const samples<shape<3, 32, 32>> xs{x.data(), batch};
  const class_labels ys{y.data(), batch};
  for (int i = 0; i < 3; ++i) model.train_step(xs, ys, cross_entropy, opt);  // plans optimizer state, warms caches
  for (auto _ : state) benchmark::DoNotOptimize(model.train_step(xs, ys, cross_entropy, opt));
  using L = decltype(model)::layout;
  state.counters["flops"] = benchmark::Counter(double(batch) * double(L::train_flops_per_sample),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(plait_step_resblock)->Unit(benchmark::kMillisecond);
}  // namespace

BENCHMARK_MAIN();
