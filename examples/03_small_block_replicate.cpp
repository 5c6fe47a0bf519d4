// 03 — A small block, replicated: replicate<2> keeps two identical copies of a 10 -> 20 -> 5 MLP.
//
// The block `linear<20> >> relu >> linear<5>` is placed whole on each of two host devices. Every
// step, each replica trains on its half of the batch, the two halves' gradients are summed by an
// all-reduce, and both replicas take the same optimizer step. The example checks what that promises:
// after training, device 0's and device 1's parameters are the same, bit for bit.
//
// The task: 5 classes, the class of x in [-1, 1]^10 being the arg-max of a fixed random linear map
// (a "teacher"); the block must learn the teacher's decision regions.
//
//   build/examples/03_small_block_replicate [--steps N] [--batch B]
//
// Exit code 0 when held-out accuracy reaches 85% and the replicas are identical.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <vector>

#include "options.hpp"

namespace {
using namespace plait;

constexpr std::size_t features = 10, classes = 5;

// x uniform in [-1, 1]^10; y = arg-max of A x for a fixed random A [5, 10].
struct teacher_data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  teacher_data(std::size_t n, std::uint64_t seed) : x(n * features), y(n) {
    splitmix64 teacher(7), rng(seed);  // the same teacher for every data set
    float a[classes][features];
    for (auto& row : a)
      for (auto& v : row) v = teacher.uniform(-1, 1);
    for (std::size_t i = 0; i < n; ++i) {
      float* xi = x.data() + i * features;
      for (std::size_t j = 0; j < features; ++j) xi[j] = rng.uniform(-1, 1);
      float best = -1e30f;
      for (std::size_t c = 0; c < classes; ++c) {
        float s = 0;
        for (std::size_t j = 0; j < features; ++j) s += a[c][j] * xi[j];
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
  int steps = 300;
  std::size_t batch = 64;
  example_options("03_small_block_replicate",
                  "A small block, replicated: replicate<2> keeps two identical copies of a 10 -> 20 -> 5 MLP")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .parse(argc, argv);
  const teacher_data train(4096, 1), test(1024, 2);

  // [docs:block]
  constexpr auto block = input<10> >> linear<20> >> relu >> linear<5>;
  using policy = replicate<2>;
  auto model = place<policy>(block, host_devices(2), {.max_batch = batch, .seed = 42});
  // [/docs:block]

  // What each device holds: the layout of the graph's type, and the policy's per-device layer ranges.
  using layout = decltype(model)::layout;
  using graph = std::remove_const_t<decltype(block)>;
  std::printf("block: %zu layers (relu fused into the first linear), %zu parameters (%zu and %zu)\n",
              layout::layer_count, model.parameter_count(), layout::param_sizes[0], layout::param_sizes[1]);
  for (std::size_t d = 0; d < policy::device_count; ++d)
    std::printf("device %zu holds layers [%zu, %zu): %zu floats (each layer's block padded to 16)\n", d,
                policy::owned<graph>[d].first, policy::owned<graph>[d].last, model.parameters(d).size());
  std::printf("gradient buckets all-reduced per step: %zu\n", policy::bucket_list<graph>.size());

  const auto before = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  // [docs:train]
  auto opt = adam{.lr = 0.01f};
  const auto t0 = std::chrono::steady_clock::now();
  float loss = 0;
  for (int s = 0; s < steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % (train.size() - batch + 1);  // each replica gets half
    loss = model.train_step(train.xs(at, batch), train.ys(at, batch), cross_entropy, opt);
    if (s % 100 == 0 || s + 1 == steps) std::printf("step %4d  loss %.4f\n", s, loss);
  }
  // [/docs:train]
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto after = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  std::printf("held-out (%zu samples): loss %.4f -> %.4f, accuracy %.3f -> %.3f  (%.3f ms/step)\n", after.count,
              before.loss, after.loss, before.accuracy, after.accuracy, ms / std::max(1, steps));

  // [docs:identical]
  const std::span<const float> p0 = model.parameters(0), p1 = model.parameters(1);
  const bool identical = p0.size() == p1.size() && std::memcmp(p0.data(), p1.data(), p0.size_bytes()) == 0;
  // [/docs:identical]
  std::printf("replicas after %d steps: %zu parameters each, %s\n", steps, p0.size(),
              identical ? "bitwise identical" : "DIFFERENT");
  return after.accuracy > 0.85 && identical ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
