// A training step captured in a CUDA graph and replayed (place_options::cuda_graph,
// runtime/graph_step.hpp, backend/cuda/graph.hpp) gives the same result as the same step run kernel by
// kernel: the same losses and parameters, to the bit, step after step, with dropout (the step number
// read on the device) and Adam (its step count read on the device); and it captures again where the
// batch size or the optimizer's settings change. What cannot be captured is refused at place(...).
// Skipped (exit 77) without a GPU.
#include "cuda_test_main.hpp"

#include <cstring>
#include <plait/cuda.hpp>
#include <plait/plait.hpp>
#include <vector>

using namespace plait;

namespace {

constexpr auto mlp = input<32> >> linear<64> >> relu >> dropout<0.2f> >> linear<64> >> relu >> linear<10>;

struct batch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch(std::size_t n, std::uint64_t seed) : x(n * 32), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(10));
  }
  samples<shape<32>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// `sizes[s]` is step s's batch size; `lr_at` changes the learning rate from that step on.
template <class Opt, class Policy = single_device>
void check_graph_equals_kernels(Opt opt, const std::vector<std::size_t>& sizes, std::size_t lr_at = ~std::size_t{0}) {
  // [docs:cuda_graph]
  auto graphed = place<Policy>(mlp, cuda_devices({0}), {.max_batch = 64, .seed = 5, .cuda_graph = true});
  // [/docs:cuda_graph]
  auto plain = place<Policy>(mlp, cuda_devices({0}), {.max_batch = 64, .seed = 5});
  auto o1 = opt, o2 = opt;
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    if (s == lr_at) o1.lr = o2.lr = opt.lr * 0.5f;
    const batch b(sizes[s], 100 + s);
    const float l1 = plain.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = graphed.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CAPTURE(s);
    CHECK(std::memcmp(&l1, &l2, sizeof l1) == 0);
    CHECK(same_bits(graphed.gather_parameters(), plain.gather_parameters()));
  }
  const batch held(64, 7);
  const evaluation e1 = plain.evaluate(held.xs(), held.ys(), cross_entropy),
                   e2 = graphed.evaluate(held.xs(), held.ys(), cross_entropy);
  CHECK(e1.loss == e2.loss);
}

}  // namespace

TEST_CASE("a captured step gives the bits of the step run kernel by kernel") {
  // Steps 0 (as usual), 1 (captured, launched), 2.. (replayed): dropout draws a new mask each step.
  check_graph_equals_kernels(sgd{.lr = 0.05f, .momentum = 0.9f}, {32, 32, 32, 32, 32, 32});
  check_graph_equals_kernels(adam{.lr = 1e-3f}, {32, 32, 32, 32, 32, 32});
  check_graph_equals_kernels(adamw{.lr = 1e-3f}, {16, 16, 16, 16});
}

TEST_CASE("a step of another size or with other optimizer settings is captured again") {
  check_graph_equals_kernels(adam{.lr = 1e-3f}, {32, 32, 32, 16, 16, 16, 32, 32});
  check_graph_equals_kernels(sgd{.lr = 0.05f}, {32, 32, 32, 32, 32, 32}, 3);  // a learning-rate change at step 3
}

TEST_CASE("micro-batches on one device are captured as one step") {
  check_graph_equals_kernels<adam, pipeline<1, microbatches<4>>>(adam{.lr = 1e-3f}, {32, 32, 32, 32});
}

TEST_CASE("what a graph cannot replay is refused at place") {
  CHECK_THROWS_WITH_AS(place<replicate<2>>(mlp, virtual_cuda_devices(2), {.cuda_graph = true}),
                       doctest::Contains("plait: place_options.cuda_graph is set for replicate on 2 devices"),
                       plait::error);
  constexpr auto staged = input<32> >> on<cpu>(plait::tanh) >> linear<10>;
  CHECK_THROWS_WITH_AS(place(staged, cuda_devices({0}), {.cuda_graph = true}),
                       doctest::Contains("a graph with a host stage"), plait::error);
  constexpr auto tokens = input<8> >> embedding<16, 4> >> flatten >> linear<2>;
  CHECK_THROWS_WITH_AS(place(tokens, cuda_devices({0}), {.cuda_graph = true}),
                       doctest::Contains("a graph with embedding"), plait::error);
}
