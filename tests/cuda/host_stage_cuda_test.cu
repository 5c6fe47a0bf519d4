// The host stage on CUDA devices (on<cpu>(...), runtime/host_stage.hpp, backend/cuda/staging.hpp):
// the graph's leading layers run on the host, their output goes through two pinned buffers in turn to
// the device that holds the next layer. Trained on virtual devices of GPU 0 against the same graph
// on host devices (where the host stage runs on the device itself), on the same batches.
// Skipped (exit 77) without a GPU.
#include "cuda_test_main.hpp"

#include <plait/cuda.hpp>
#include <plait/plait.hpp>
#include <ratio>
#include <vector>

#include "policy/equivalence.hpp"

using namespace plait;

namespace host_layers {  // named: nvcc warns of unused members of layer types with internal linkage

// Pixels 0..255 to [-1, 1] on the host: a layer whose kernel is host code only (no PLAIT_HD), which
// the host stage may hold because it never runs on the GPU.
struct to_unit_t {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0, saved_count = 0, flops = 2 * In::size;
    static constexpr bool is_view = false, in_place_grad = true;
    template <class T, class Rng>
    static void init(T*, Rng&) {}
    template <class Ctx, class T>
    static void forward(const Ctx&, const forward_args<T>& a) {
      for (std::size_t i = 0; i < a.batch * In::size; ++i) a.y[i] = a.x[i] * T(2.0 / 255.0) - T(1);
    }
    template <class Ctx, class T>
    static void backward(const Ctx&, const backward_args<T>&) {}  // never called: the host stage is not trained
  };
};
inline constexpr to_unit_t to_unit{};

}  // namespace host_layers

namespace {
using host_layers::to_unit;

// [docs:host_stage_cuda]
constexpr auto net = input<1, 8, 8> >> on<cpu>(to_unit >> dropout<0.1f> >> flatten)  // on the host
                     >> linear<32> >> relu >> linear<10>;                            // on the GPU
// [/docs:host_stage_cuda]

struct pixels {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  pixels(std::size_t n, std::uint64_t seed) : x(n * 64), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = float(rng.below(256));
    for (auto& v : y) v = std::int32_t(rng.below(10));
  }
  samples<shape<1, 8, 8>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

template <class Policy>
void check_against_host() {
  constexpr std::size_t n = 32;
  // [docs:host_stage_place]
  auto gpu = place<Policy>(net, virtual_cuda_devices(Policy::device_count), {.max_batch = n, .seed = 4});
  // [/docs:host_stage_place]
  auto cpu = place<Policy>(net, host_devices(Policy::device_count), {.max_batch = n, .seed = 4});
  auto o1 = adam{.lr = 1e-3f}, o2 = o1;
  for (int s = 0; s < 6; ++s) {  // more micro-batches than staging buffers: each buffer is reused
    const pixels b(n, 10 + std::uint64_t(s));
    const float l1 = cpu.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = gpu.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-4));
  }
  CHECK(test::max_relative_difference(gpu.gather_parameters(), cpu.gather_parameters()) < 1e-3);
  const pixels held(n, 77);
  const evaluation e1 = cpu.evaluate(held.xs(), held.ys(), cross_entropy),
                   e2 = gpu.evaluate(held.xs(), held.ys(), cross_entropy);
  CHECK(e2.loss == doctest::Approx(e1.loss).epsilon(1e-4));
  CHECK(e2.accuracy == e1.accuracy);
}

}  // namespace

TEST_CASE("a host stage feeds one CUDA device, micro-batch by micro-batch") {
  check_against_host<single_device>();
  check_against_host<pipeline<1, microbatches<4>>>();
}

TEST_CASE("a host stage feeds the first device of a pipeline and every replica") {
  check_against_host<pipeline<2, microbatches<4>, one_f_one_b>>();
  check_against_host<replicate<2>>();
}
