// 13 — A predictive coding module, parallel three ways.
//
// A 10 -> 20 -> 10 module, `input<10> >> linear<20> >> tanh >> linear<10>`, trained by predictive
// coding with Adam on MSE, batch 128, to fit a fixed nonlinear map (a "teacher"). The same graph
// expression and the same step, `pc_step`, under three placements:
//   --mode data    replicate<2>: each of two host devices holds the whole module and infers the value
//                  nodes of its half of the batch; the weight gradients are all-reduced once per
//                  step, after the inference iterations.
//   --mode model   pipeline<2>: the prediction part (linear<20> >> tanh) on device 0, the error
//                  computation against the target (linear<10> and the loss) on device 1. In every
//                  iteration device 0 sends its value node (the prediction) across and device 1
//                  sends back the error term of its layer; both devices work at the same time.
//   13_pc_module_mpi, under mpirun -np 2: replicate<2> with one device in each process.
//
//   build/examples/13_pc_module [--mode data|model] [--steps N] [--iterations T]
//   mpirun -np 2 build/examples/13_pc_module_mpi [--steps N]
//
// Exit code 0 when the held-out error fell to a quarter of where it started.

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "options.hpp"

#include <plait/plait.hpp>
#ifdef PLAIT_EXAMPLE_MPI
#include <chrono>
#include <plait/mpi.hpp>
#endif

namespace {
using namespace plait;

constexpr std::size_t width = 10;

// x uniform in [-1, 1]^10; y = tanh(A x) for a fixed random A [10, 10].
struct teacher_data {
  std::vector<float> x, y;
  teacher_data(std::size_t n, std::uint64_t seed) : x(n * width), y(n * width) {
    splitmix64 teacher(5), rng(seed);  // the same teacher for every data set
    float a[width][width];
    for (auto& row : a)
      for (auto& v : row) v = teacher.uniform(-1, 1);
    for (std::size_t i = 0; i < n; ++i) {
      float* xi = x.data() + i * width;
      for (std::size_t j = 0; j < width; ++j) xi[j] = rng.uniform(-1, 1);
      for (std::size_t o = 0; o < width; ++o) {
        float s = 0;
        for (std::size_t j = 0; j < width; ++j) s += a[o][j] * xi[j];
        y[i * width + o] = std::tanh(s);
      }
    }
  }
  samples<shape<width>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * width, n}; }
  samples<shape<width>> ys(std::size_t at, std::size_t n) const { return {y.data() + at * width, n}; }
  std::size_t size() const { return y.size() / width; }
};

struct settings {
  std::string mode = "data";
  int steps = 400;
  std::size_t iterations = 8;
};

// [docs:module]
constexpr auto module = input<10> >> linear<20> >> plait::tanh >> linear<10>;
// [/docs:module]

template <class Model>
int train(Model& model, const settings& cfg, bool print) {
  const teacher_data data(8192, 1), held_out(1024, 2);
  constexpr std::size_t batch = 128;
  const float before = model.evaluate(held_out.xs(0, held_out.size()), held_out.ys(0, held_out.size()), mse).loss;
  // [docs:train]
  auto opt = adam{.lr = 0.01f};
  const pc_options pc{.iterations = cfg.iterations, .rate = 0.1f};
  progress bar({.enabled = print, .metric = "energy", .steps = std::size_t(cfg.steps), .every = 100});
  bar.begin_epoch(0);
  for (int s = 0; s < cfg.steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % (data.size() - batch + 1);
    bar.step(batch, model.pc_step(data.xs(at, batch), data.ys(at, batch), mse, opt, pc));
  }
  bar.end_epoch();
  // [/docs:train]
  const float after = model.evaluate(held_out.xs(0, held_out.size()), held_out.ys(0, held_out.size()), mse).loss;
  if (print) std::printf("held-out mse: %.5f -> %.5f\n", before, after);
  return after < 0.25f * before ? 0 : 1;
}

template <class Model>
bool replicas_identical(Model& model) {
  const std::span<const float> p0 = model.parameters(0), p1 = model.parameters(1);
  return p0.size() == p1.size() && std::memcmp(p0.data(), p1.data(), p0.size_bytes()) == 0;
}

}  // namespace

int main(int argc, char** argv) try {
  settings cfg;
  example_options(PLAIT_EXAMPLE_NAME, "a 10 -> 20 -> 10 predictive coding module, data or model parallel")
      .add("--mode", cfg.mode, "data: replicate<2>; model: pipeline<2> (not under MPI)")
      .add("--steps", cfg.steps, "training steps")
      .add("--iterations", cfg.iterations, "inference iterations per step (T)")
      .parse(argc, argv);
#ifdef PLAIT_EXAMPLE_MPI
  return run_or_abort([&] {
    // [docs:mpi]
    mpi_world world(&argc, &argv);
    auto model = place<replicate<2>>(
        module, across_processes(world, host_devices(1), {.deadline = std::chrono::seconds(60)}), {.max_batch = 128});
    // [/docs:mpi]
    if (world.rank() == 0) std::printf("replicate<2> over %zu processes, one host device each\n", world.size());
    return train(model, cfg, world.rank() == 0);
  });
#else
  if (cfg.mode == "data") {
    // [docs:data]
    auto model = place<replicate<2>>(module, host_devices(2), {.max_batch = 128});
    // [/docs:data]
    std::printf("data parallel: replicate<2> on 2 host devices\n");
    const int rc = train(model, cfg, true);
    const bool same = replicas_identical(model);
    std::printf("replicas: %s\n", same ? "bitwise identical" : "DIFFERENT");
    return same ? rc : 1;
  }
  if (cfg.mode == "model") {
    // [docs:model]
    auto model = place<pipeline<2>>(module, host_devices(2), {.max_batch = 128});  // a stage per device
    // [/docs:model]
    std::printf("model parallel: pipeline<2>, layers [0, 1) on device 0 and [1, 2) on device 1\n");
    return train(model, cfg, true);
  }
  plait::fail("--mode " + cfg.mode + " is not a mode of this example", "the example places the module two ways",
              "use --mode data or --mode model");
#endif
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
