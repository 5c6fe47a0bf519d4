// 15 — A 1000 -> 500 -> 1 regression model split over two devices, and the same model hybrid.
//
// What a PyTorch user means by "split over two devices" is model parallelism: `fc1` on cuda:0, `fc2`
// on cuda:1, and the activations moved between them in forward. In plait that is pipeline<2>: the
// graph cut into two stages, a stage per device (here linear<500> with its relu on device 0,
// linear<1> and the loss on device 1). With microbatches<4> each replica's batch flows through the
// stages in four parts, so the devices overlap as in GPipe. The alternative, --split partition, is
// partition<2>: tensor parallelism as in Megatron-LM, each device holding half of the 500 hidden
// units (the pair linear<500>, linear<1> split column then row, one all-reduce each way).
//
// 15_split_regression_mpi is the same model hybrid, under mpirun -np 2: data parallel over the two
// processes (one replica each, as DistributedDataParallel) and split over two host devices inside
// each, replicate<2, pipeline<2, microbatches<4>>> (or replicate<2, partition<2>>). Each process reads
// only its replica's rows of every global batch (a loader over the model's sampler and this
// process's replicas); rank 0 prints.
//
// The task: x uniform in [-1, 1]^1000, y = sum_k c_k tanh(a_k . x) over four fixed random directions a_k
// (a "teacher"). Every variant checks, before it trains on, that its first 3 steps' losses equal
// those of the same model on one device on the same global batches (within 1e-4 relative).
//
//   build/examples/15_split_regression [--split pipeline|partition] [--steps N] [--batch B]
//   mpirun -np 2 build/examples/15_split_regression_mpi [--split pipeline|partition] [--steps N] [--batch B]
//
// Exit code 0 when the first steps match one device's and the held-out mean squared error falls
// below a fifth of the targets' variance (R^2 above 0.8).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "options.hpp"

#ifdef PLAIT_EXAMPLE_MPI
#include <plait/mpi.hpp>
#endif

namespace {
using namespace plait;

constexpr std::size_t features = 1000, directions = 4;
using dataset = in_memory_dataset<shape<features>, samples<shape<1>>>;

constexpr auto net = input<1000> >> linear<500> >> relu >> linear<1>;

struct settings {
  std::string split = "pipeline";
  int steps = 400;
  std::size_t batch = 64;
  float lr = 1e-3f;
};

settings parse(const char* program, int argc, char** argv) {
  settings s;
  example_options(program, "a 1000 -> 500 -> 1 regression model split over two devices (model parallel)")
      .add("--split", s.split, "pipeline: pipeline<2, microbatches<4>>; partition: partition<2>")
      .add("--steps", s.steps, "training steps (at least 3)")
      .add("--batch", s.batch, "samples per step (the global batch)")
      .add("--lr", s.lr, "Adam's learning rate")
      .parse(argc, argv);
  return s;
}

// n samples of the teacher; the same teacher for every data set.
dataset teacher_data(std::size_t n, std::uint64_t seed) {
  splitmix64 teacher(3), rng(seed);
  const float scale = 3.0f / std::sqrt(float(features));  // a_k . x has variance about 1
  const float c[directions] = {1.0f, -0.8f, 0.6f, -0.4f};
  std::vector<float> a(directions * features), x(n * features), y(n);
  for (float& v : a) v = scale * teacher.uniform(-1, 1);
  for (std::size_t i = 0; i < n; ++i) {
    float* xi = x.data() + i * features;
    for (std::size_t j = 0; j < features; ++j) xi[j] = rng.uniform(-1, 1);
    for (std::size_t k = 0; k < directions; ++k) {
      float s = 0;
      for (std::size_t j = 0; j < features; ++j) s += a[k * features + j] * xi[j];
      y[i] += c[k] * std::tanh(s);
    }
  }
  return dataset(std::move(x), std::move(y));
}

float variance(const dataset& d) {
  const samples<shape<1>> y = d.y();
  double sum = 0, squares = 0;
  for (std::size_t i = 0; i < y.count; ++i) sum += y.data[i], squares += double(y.data[i]) * y.data[i];
  const double mean = sum / double(y.count);
  return float(squares / double(y.count) - mean * mean);
}

// Trains `model` on this process's rows; the first 3 steps beside one device on the whole global
// batches. Returns the exit code; prints where `print`.
template <class Model>
int train(Model& model, const settings& cfg, bool print) {
  const dataset train = teacher_data(8192, 1), test = teacher_data(1024, 2);
  const float var = variance(test);
  const sampler_options so{.global_batch = cfg.batch, .seed = 7, .last = last_batch::pad};
  loader batches(train, model.sampler(train.size(), so), {.replicas = model.process_replicas()});  // its rows only
  auto opt = adam{.lr = cfg.lr};
  // The check: the same model on one device, on every row of the same global batches.
  auto one = place(net, host_device(), {.max_batch = cfg.batch, .seed = 42});
  loader whole(train, one.sampler(train.size(), so));
  whole.begin_epoch(0);
  auto one_opt = opt;
  constexpr int checked = 3;
  float worst = 0;  // the largest relative difference of the checked steps' losses

  const float before = model.evaluate(test.x(), test.y(), mse).loss;
  const auto t0 = std::chrono::steady_clock::now();
  float loss = 0;
  int s = 0;
  progress bar({.enabled = print, .steps = std::size_t(cfg.steps), .every = 100});  // a line every 100 steps
  bar.begin_epoch(0);
  for (std::uint64_t epoch = 0; s < cfg.steps; ++epoch)
    for (auto& b : batches.epoch(epoch)) {
      if (s == cfg.steps) break;
      loss = model.train_step(b, mse, opt);  // the job's loss over the global batch
      if (s < checked) {
        const auto* w = whole.next();
        const float reference = one.train_step(w->x, w->y, mse, one_opt);
        worst = std::max(worst, std::abs(loss - reference) / std::max(std::abs(reference), 1e-30f));
        if (print) std::printf("step %4d  loss %.6f  one device %.6f\n", s, loss, reference);
      }
      bar.step(b.global, loss);
      ++s;
    }
  bar.end_epoch();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const float after = model.evaluate(test.x(), test.y(), mse).loss;
  const bool same = worst <= 1e-4f, learned = after < 0.2f * var;
  if (print) {
    std::printf("first %d steps beside one device: largest relative difference %.2e (%s)\n", checked, worst,
                same ? "within 1e-4" : "NOT within 1e-4");
    std::printf("held-out mse (%zu samples): %.5f -> %.5f, targets' variance %.5f: R^2 %.3f  (%.2f ms/step)\n",
                test.size(), before, after, var, 1.0f - after / var, ms / std::max(1, s));
  }
  return same && learned ? 0 : 1;
}

template <class Split>
constexpr const char* name_of() {
  return std::is_same_v<Split, partition<2>> ? "partition<2>" : "pipeline<2, microbatches<4>>";
}

}  // namespace

#ifdef PLAIT_EXAMPLE_MPI
// The same model hybrid: replicate<2, Split> over the processes, Split over two devices in each.
template <class Split>
int run(mpi_world& world, const settings& cfg) {
  const bool leader = world.rank() == 0;
  // [docs:hybrid]
  using policy = replicate<2, Split>;  // e.g. replicate<2, pipeline<2, microbatches<4>>>: 2 replicas x 2 stages
  const std::size_t local = policy::device_count / std::min<std::size_t>(world.size(), 2);  // -np 2: 2 each
  auto model = place<policy>(net, across_processes(world, host_devices(local), {.deadline = std::chrono::seconds(60)}),
                             {.max_batch = cfg.batch, .seed = 42});
  // [/docs:hybrid]
  if (leader)
    std::printf("replicate<2, %s> over %zu process(es) of %zu host devices: %zu parameters per replica\n",
                name_of<Split>(), world.size(), local, model.parameter_count());
  const int rc = train(model, cfg, leader);

  // Every process holds the same model: rank 0's parameters, broadcast, against each rank's own.
  mpi_comm comm(world, {.deadline = std::chrono::seconds(60)});
  const std::vector<float> mine = model.gather_parameters();  // this process's replica, both devices' parts
  std::vector<float> first = mine;
  comm.broadcast(first.data(), first.size(), 0);
  float same = std::memcmp(first.data(), mine.data(), mine.size() * sizeof(float)) == 0 ? 1.0f : 0.0f;
  comm.all_reduce(&same, 1);
  const bool identical = std::size_t(same) == world.size();
  if (leader)
    std::printf("replicas: on %zu of %zu processes %s\n", std::size_t(same), world.size(),
                identical ? "bitwise identical to rank 0's" : "DIFFERENT");
  return identical ? rc : 1;
}

int main(int argc, char** argv) {
  return run_or_abort([&] {  // an error on any rank: printed, then MPI_Abort ends the job non-zero
    mpi_world world(&argc, &argv);
    const settings cfg = parse("15_split_regression_mpi", argc, argv);
    if (cfg.split == "pipeline") return run<pipeline<2, microbatches<4>>>(world, cfg);
    if (cfg.split == "partition") return run<partition<2>>(world, cfg);
    fail("--split " + cfg.split + " is not a split of this example", "the example splits the model two ways",
         "use --split pipeline or --split partition");
  });
}
#else
template <class Split>
int run(const settings& cfg) {
  // [docs:split]
  auto model = place<Split>(net, host_devices(2), {.max_batch = cfg.batch, .seed = 42});  // e.g. pipeline<2, ...>
  // [/docs:split]
  using graph = std::remove_const_t<decltype(net)>;
  std::printf("%s on 2 host devices: %zu parameters", name_of<Split>(), model.parameter_count());
  if constexpr (std::is_same_v<Split, partition<2>>)
    std::printf(", each linear's weights split over the devices (%zu and %zu floats)\n", model.parameters(0).size(),
                model.parameters(1).size());
  else
    std::printf(", layers [%zu, %zu) on device 0 (%zu floats) and [%zu, %zu) on device 1 (%zu floats)\n",
                Split::template owned<graph>[0].first, Split::template owned<graph>[0].last, model.parameters(0).size(),
                Split::template owned<graph>[1].first, Split::template owned<graph>[1].last,
                model.parameters(1).size());
  return train(model, cfg, true);
}

int main(int argc, char** argv) try {
  const settings cfg = parse("15_split_regression", argc, argv);
  if (cfg.split == "pipeline") return run<pipeline<2, microbatches<4>>>(cfg);
  if (cfg.split == "partition") return run<partition<2>>(cfg);
  plait::fail("--split " + cfg.split + " is not a split of this example", "the example splits the model two ways",
              "use --split pipeline or --split partition");
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
#endif
