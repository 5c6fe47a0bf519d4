// 04 — A residual CNN block, trained data-parallel: replicate<2> on two host devices.
//
// The block is ResNet's with a projection shortcut: f = conv 3x3 (3 -> 16 channels) >> batchnorm
// >> relu >> conv 3x3 (16 -> 16) >> batchnorm, and since f changes the channels the shortcut is a
// 1x1 convolution from 3 to 16 channels; then y = relu(f(x) + shortcut(x)). A max-pooling and a
// linear classifier follow. `residual(...)` is one layer of the graph: its inner layers' parameters
// sit in one block of the flat buffer, and replicate<2> all-reduces them like any other layer's.
//
// The data are synthetic 32x32 RGB images of noise in which one colour channel of one quadrant is
// brighter: 12 classes (4 quadrants x 3 channels). Each replica normalises with the statistics of
// its half of the batch (batchnorm without synchronisation, as PyTorch DDP).
//
//   build/examples/04_residual_cnn [--steps N] [--batch B]
//   mpirun -np 2 build/examples/04_residual_cnn_mpi [--steps N] [--batch B]
//
// 04_residual_cnn_mpi is the same model across the processes of an MPI job, as PyTorch's
// DistributedDataParallel: one replica in each of two processes, each process drawing only its
// replica's images of every global batch (image i of global batch s is drawn from its own seed, so
// which process draws it does not change it) and passing them with process_rows{.global_batch = B}.
// Rank 0 prints; the job exits non-zero unless held-out accuracy reaches 40% and every process holds
// rank 0's parameters, bit for bit.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/layers/residual.hpp>
#include <plait/plait.hpp>
#include <vector>

#include "options.hpp"

#ifdef PLAIT_EXAMPLE_MPI
#include <algorithm>
#include <plait/mpi.hpp>
#endif

namespace {

constexpr std::size_t classes = 12, pixels = 3 * 32 * 32;

// Image i of a stream: uniform noise in [0, 1), plus 0.35 on quadrant q of channel c; class 3q + c.
void draw(plait::splitmix64& rng, std::size_t n, float* x, std::int32_t* y) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t label = rng.below(classes), q = label / 3, c = label % 3;
    y[i] = std::int32_t(label);
    float* img = x + i * pixels;  // [3, 32, 32]
    for (std::size_t j = 0; j < pixels; ++j) img[j] = rng.uniform01();
    for (std::size_t h = 0; h < 16; ++h)
      for (std::size_t w = 0; w < 16; ++w) img[(c * 32 + (q / 2) * 16 + h) * 32 + (q % 2) * 16 + w] += 0.35f;
  }
}

#ifdef PLAIT_EXAMPLE_MPI
// Image `row` of global batch `step`: one image drawn from a seed of its own.
void draw_row(std::uint64_t step, std::uint64_t row, float* x, std::int32_t* y) {
  plait::splitmix64 rng(7 + (step << 24) + row);
  draw(rng, 1, x, y);
}
#endif

}  // namespace

#ifdef PLAIT_EXAMPLE_MPI
int main(int argc, char** argv) {
  using namespace plait;
  return run_or_abort([&] {  // an error on any rank: printed, then MPI_Abort ends the job non-zero
    mpi_world world(&argc, &argv);
    int steps = 150;
    std::size_t batch = 64;
    example_options("04_residual_cnn_mpi", "A residual CNN block, data parallel over the processes of mpirun -np 2")
        .add("--steps", steps, "training steps")
        .add("--batch", batch, "samples per step (the global batch)")
        .parse(argc, argv);
    const bool leader = world.rank() == 0;

    constexpr auto block =
        residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1> >> batchnorm2d, conv2d<16, 1>);
    constexpr auto net = input<3, 32, 32> >> block >> relu >> maxpool2d<4> >> flatten >> linear<classes>;
    using policy = replicate<2>;
    const std::size_t local = policy::device_count / std::min(world.size(), policy::device_count);
    auto model =
        place<policy>(net, across_processes(world, host_devices(local), {.deadline = std::chrono::seconds(60)}),
                      {.max_batch = batch, .seed = 1});
    using layout = decltype(model)::layout;
    if (leader)
      std::printf("model: %zu parameters in %zu layers; replicate<2> over %zu process(es) of %zu host device(s)\n",
                  model.parameter_count(), layout::layer_count, world.size(), local);

    auto opt = adam{.lr = 2e-3f};
    const auto start = std::chrono::steady_clock::now();
    progress bar({.enabled = leader, .steps = std::size_t(steps), .every = 10});  // rank 0 prints
    bar.begin_epoch(0);
    // [docs:mpi_rows]
    const shard mine = model.rows_of_process(batch);  // this process's rows of every global batch
    std::vector<float> x(mine.size() * pixels);
    std::vector<std::int32_t> y(mine.size());
    for (int s = 0; s < steps; ++s) {
      for (std::size_t r = 0; r < mine.size(); ++r)  // draws only its own images
        draw_row(std::uint64_t(s), mine.begin + r, x.data() + r * pixels, y.data() + r);
      const float loss = model.train_step(samples<shape<3, 32, 32>>{x.data(), mine.size()},
                                          class_labels{y.data(), mine.size()}, cross_entropy, opt,
                                          process_rows{.global_batch = batch});  // the job's loss over all B images
      bar.step(batch, loss);
    }
    // [/docs:mpi_rows]
    bar.end_epoch();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (leader)
      std::printf("%.1f ms per step of %zu images, rows [%zu, %zu) drawn by rank 0\n",
                  1e3 * seconds / (steps ? steps : 1), batch, mine.begin, mine.end);

    constexpr std::size_t held_out = 1024;
    std::vector<float> tx(held_out * pixels);
    std::vector<std::int32_t> ty(held_out);
    splitmix64 test_rng(99);
    draw(test_rng, held_out, tx.data(), ty.data());
    const evaluation e = model.evaluate(samples<shape<3, 32, 32>>{tx.data(), held_out},
                                        class_labels{ty.data(), held_out}, cross_entropy);  // the same on every rank

    mpi_comm comm(world, {.deadline = std::chrono::seconds(60)});
    std::vector<float> first(model.parameters(0).begin(), model.parameters(0).end());
    comm.broadcast(first.data(), first.size(), 0);  // rank 0's replica, on every rank
    float same = 1;
    for (std::size_t d = 0; d < model.local_device_count(); ++d) {
      const std::span<const float> p = model.parameters(d);
      if (p.size() != first.size() || std::memcmp(p.data(), first.data(), p.size_bytes()) != 0) same = 0;
    }
    comm.all_reduce(&same, 1);  // the ranks whose replicas are rank 0's
    const bool identical = std::size_t(same) == world.size();
    if (leader) {
      std::printf("held-out: loss %.4f, accuracy %.4f over %zu images (chance %.4f)\n", e.loss, e.accuracy, e.count,
                  1.0 / classes);
      std::printf("replicas: on %zu of %zu processes %s\n", std::size_t(same), world.size(),
                  identical ? "bitwise identical to rank 0's" : "DIFFERENT");
    }
    return e.accuracy >= 0.4 && identical ? 0 : 1;
  });
}
#else
int main(int argc, char** argv) try {
  using namespace plait;
  int steps = 150;
  std::size_t batch = 64;
  example_options("04_residual_cnn", "A residual CNN block, trained data-parallel: replicate<2> on two host devices")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .parse(argc, argv);

  // [docs:residual]
  constexpr auto block = residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1> >> batchnorm2d,
                                  conv2d<16, 1>);         // the projection shortcut: 3 -> 16 channels
  constexpr auto net = input<3, 32, 32> >> block >> relu  // the relu is fused into the block's add
                       >> maxpool2d<4> >> flatten >> linear<classes>;
  auto model = place<replicate<2>>(net, host_devices(2), {.max_batch = batch, .seed = 1});
  // [/docs:residual]
  using layout = decltype(model)::layout;
  std::printf("model: %zu parameters in %zu layers, %.1f MFLOP per sample forward; replicate<2> on 2 host devices\n",
              model.parameter_count(), layout::layer_count, layout::flops_per_sample / 1e6);

  std::vector<float> x(batch * pixels);
  std::vector<std::int32_t> y(batch);
  splitmix64 rng(7);
  auto opt = adam{.lr = 2e-3f};
  const auto start = std::chrono::steady_clock::now();
  progress bar({.steps = std::size_t(steps), .every = 10});  // a line every 10 steps: their mean loss
  bar.begin_epoch(0);
  for (int s = 0; s < steps; ++s) {
    draw(rng, batch, x.data(), y.data());  // a fresh global batch; each replica trains on half of it
    bar.step(batch, model.train_step(samples<shape<3, 32, 32>>{x.data(), batch}, class_labels{y.data(), batch},
                                     cross_entropy, opt));
  }
  bar.end_epoch();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.1f ms per step of %zu images\n", 1e3 * seconds / (steps ? steps : 1), batch);

  constexpr std::size_t held_out = 1024;
  std::vector<float> tx(held_out * pixels);
  std::vector<std::int32_t> ty(held_out);
  splitmix64 test_rng(99);
  draw(test_rng, held_out, tx.data(), ty.data());
  const evaluation e =
      model.evaluate(samples<shape<3, 32, 32>>{tx.data(), held_out}, class_labels{ty.data(), held_out}, cross_entropy);
  std::printf("held-out: loss %.4f, accuracy %.4f over %zu images (chance %.4f)\n", e.loss, e.accuracy, e.count,
              1.0 / classes);
  return 0;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
#endif
