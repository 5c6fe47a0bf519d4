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
//   mpirun -np 2 build/examples/03_small_block_replicate_mpi [--steps N] [--batch B]
//
// 03_small_block_replicate_mpi is the same block across the processes of an MPI job, as PyTorch's
// DistributedDataParallel with a DistributedSampler: each of two processes runs one replica on one
// host device and reads only its replica's rows of every global batch (a loader over the model's
// sampler and this process's replicas); rank 0 prints. The replicas are compared across processes:
// rank 0 broadcasts its parameters and every rank compares them with its own, bit for bit.
//
// Exit code 0 when held-out accuracy reaches 85% and the replicas are identical.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <vector>

#include "options.hpp"

#ifdef PLAIT_EXAMPLE_MPI
#include <algorithm>
#include <plait/mpi.hpp>
#endif

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

#ifdef PLAIT_EXAMPLE_MPI
int main(int argc, char** argv) {
  return run_or_abort([&] {  // an error on any rank: printed, then MPI_Abort ends the job non-zero
    mpi_world world(&argc, &argv);
    int steps = 300;
    std::size_t batch = 64;
    example_options("03_small_block_replicate_mpi",
                    "A small block, replicated over the processes of mpirun -np 2: one replica in each")
        .add("--steps", steps, "training steps")
        .add("--batch", batch, "samples per step (the global batch)")
        .parse(argc, argv);
    const bool leader = world.rank() == 0;
    const teacher_data train(4096, 1), test(1024, 2);

    constexpr auto block = input<10> >> linear<20> >> relu >> linear<5>;
    using policy = replicate<2>;  // -np 2: one replica per process; -np 1: both in the one process
    const std::size_t local = policy::device_count / std::min(world.size(), policy::device_count);
    auto model =
        place<policy>(block, across_processes(world, host_devices(local), {.deadline = std::chrono::seconds(60)}),
                      {.max_batch = batch, .seed = 42});
    if (leader)
      std::printf("replicate<2> over %zu process(es) of %zu host device(s): %zu parameters per replica\n", world.size(),
                  local, model.parameter_count());

    const auto before = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
    // [docs:mpi_train]
    const in_memory_dataset<shape<features>, class_labels> data(train.x, train.y);  // every process: the whole set
    const sharded_sampler order =
        model.sampler(data.size(), {.global_batch = batch, .seed = 7, .last = last_batch::pad});
    loader batches(data, order, {.replicas = model.process_replicas()});  // reads this process's rows only
    auto opt = adam{.lr = 0.01f};
    if (leader)
      std::printf("each process reads %zu of the %zu rows of a global batch\n", batches.options().batch_size, batch);
    progress bar({.enabled = leader, .steps = std::size_t(steps), .every = 100});  // rank 0 prints
    bar.begin_epoch(0);
    int s = 0;
    for (std::uint64_t epoch = 0; s < steps; ++epoch)
      for (auto& b : batches.epoch(epoch)) {
        if (s == steps) break;
        bar.step(b.global, model.train_step(b, cross_entropy, opt));  // the job's loss over the global batch
        ++s;
      }
    bar.end_epoch();
    // [/docs:mpi_train]
    const auto after = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
    if (leader)
      std::printf("held-out (%zu samples): loss %.4f -> %.4f, accuracy %.3f -> %.3f\n", after.count, before.loss,
                  after.loss, before.accuracy, after.accuracy);

    // [docs:mpi_identical]
    mpi_comm comm(world, {.deadline = std::chrono::seconds(60)});
    const std::span<const float> mine = model.parameters(0);
    std::vector<float> first(mine.begin(), mine.end());
    comm.broadcast(first.data(), first.size(), 0);  // rank 0's replica, on every rank
    float same = 1;                                 // this rank's replicas equal rank 0's, bit for bit
    for (std::size_t d = 0; d < model.local_device_count(); ++d) {
      const std::span<const float> p = model.parameters(d);
      if (p.size() != first.size() || std::memcmp(p.data(), first.data(), p.size_bytes()) != 0) same = 0;
    }
    comm.all_reduce(&same, 1);  // the ranks whose replicas are rank 0's
    const bool identical = std::size_t(same) == world.size();
    // [/docs:mpi_identical]
    if (leader)
      std::printf("replicas after %d steps: %zu parameters each, on %zu of %zu processes %s\n", steps, first.size(),
                  std::size_t(same), world.size(), identical ? "bitwise identical to rank 0's" : "DIFFERENT");
    return after.accuracy > 0.85 && identical ? 0 : 1;
  });
}
#else
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
  progress bar({.steps = std::size_t(steps), .every = 100});  // a line every 100 steps: their mean loss
  bar.begin_epoch(0);
  for (int s = 0; s < steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % (train.size() - batch + 1);  // each replica gets half
    bar.step(batch, model.train_step(train.xs(at, batch), train.ys(at, batch), cross_entropy, opt));
  }
  bar.end_epoch();
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
#endif
