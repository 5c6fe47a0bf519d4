// 11 — Fashion-MNIST across processes: the demo's model, data parallel over the processes of an MPI job.
//
// The same MLP as example 00, placed with replicate<2> on the processes that mpirun starts: with two
// processes each runs one replica on one host device; with one process, both replicas run in it. The
// gradients are summed across processes by plait's MPI communicator (Open MPI), and every process
// holds the same parameters after every step. Progress is printed by rank 0 only.
//
//   mpirun -np 2 build/examples/11_mpi_fashion_mnist [--epochs N] [--batch B] [--lr LR] [--limit N]
//                                                    [--checkpoint FILE] [--resume FILE]
//   (as root add --allow-run-as-root; on a 2-core machine, -np 2 fits: one core per process)
//
// A checkpoint is saved at the end of each epoch (--checkpoint, default 11_mpi_fashion_mnist.safetensors:
// every process gathers, rank 0 writes, the file replaces the last one once every rank succeeded);
// --resume FILE continues from one, whatever number of processes saved it (or example 00, any --devices).
//
// Each process reads only its replicas' rows of every global batch, as PyTorch's DistributedSampler
// gives each rank its indices: a sampler made by the model (its replica count is the policy's) and a
// loader over this process's replicas. The last global batch is padded from the epoch's start, so
// every step has the whole global batch. A process that dies or stops answering ends the job with an
// error naming the step and the instruction within the deadline (60 s here), never a hang.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "options.hpp"

// [docs:mpi_include]
#include <plait/mpi.hpp>  // plait::mpi: the MPI world and communicator, across_processes
#include <plait/plait.hpp>
// [/docs:mpi_include]

namespace {

struct settings {
  int epochs = 3;
  std::size_t batch = 128;
  float lr = 1e-3f;
  std::size_t limit = 0;  // 0: all images
  std::string checkpoint = "11_mpi_fashion_mnist.safetensors";
  std::string resume;
};

settings parse(int argc, char** argv) {
  settings s;
  example_options("11_mpi_fashion_mnist", "the demo's MLP, data parallel over the processes of mpirun -np 2")
      .add("--epochs", s.epochs, "passes over the training images")
      .add("--batch", s.batch, "samples per step (the global batch)")
      .add("--lr", s.lr, "Adam's learning rate")
      .add("--limit", s.limit, "train and test on the first N images only (0: all)")
      .add("--checkpoint", s.checkpoint, "save a checkpoint to FILE at the end of each epoch (rank 0 writes)")
      .add("--resume", s.resume, "continue from the checkpoint FILE, saved by any number of processes")
      .parse(argc, argv);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace plait;
  return run_or_abort([&] {  // an error on any rank: printed, then MPI_Abort ends the job non-zero
    // [docs:mpi_place]
    mpi_world world(&argc, &argv);  // MPI_Init_thread ... MPI_Finalize; outlives the model below
    const settings cfg = parse(argc, argv);
    const bool leader = world.rank() == 0;
    using policy = replicate<2>;
    const std::size_t local = policy::device_count / std::min(world.size(), policy::device_count);
    constexpr auto net = input<1, 28, 28> >> flatten >> linear<256> >> relu >> linear<128> >> relu >> linear<10>;
    auto model =
        place<policy>(net, across_processes(world, host_devices(local), {.deadline = std::chrono::seconds(60)}),
                      {.max_batch = cfg.batch, .seed = 42});
    // [/docs:mpi_place]
    if (leader)
      std::printf("policy: replicate<2> over %zu process(es) of %zu host device(s); %zu parameters\n", world.size(),
                  local, model.parameter_count());

    auto train = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::train);
    auto test = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::test);
    if (cfg.limit) {
      train = train.subset(0, std::min(cfg.limit, train.size()));
      test = test.subset(0, std::min(cfg.limit, test.size()));
    }
    // [docs:mpi_train]
    auto opt = adam{.lr = cfg.lr};
    const sharded_sampler order =
        model.sampler(train.size(), {.global_batch = cfg.batch, .seed = 7, .last = last_batch::pad});
    loader batches(train, order, {.replicas = model.process_replicas()});  // this process's rows only
    progress bar({.epochs = cfg.epochs,
                  .samples_per_epoch = order.batches_per_epoch() * cfg.batch,
                  .enabled = leader});  // rank 0 prints
    data_position at;                   // epoch 0, batch 0, or a checkpoint's
    if (!cfg.resume.empty()) at = load_checkpoint(model, cfg.resume, opt, batches);
    for (auto epoch = at.epoch; epoch < std::uint64_t(cfg.epochs); ++epoch) {
      bar.begin_epoch(int(epoch));
      for (auto& b : batches.epoch(epoch, epoch == at.epoch ? at.batch : 0))
        bar.step(b.global, model.train_step(b, cross_entropy, opt));  // the job's loss over the global batch
      bar.end_epoch();
      save_checkpoint(model, cfg.checkpoint, opt, batches);  // every process calls it; rank 0 writes
    }
    // [/docs:mpi_train]
    const evaluation result = model.evaluate(test.x(), test.y(), cross_entropy);  // every process: the same answer
    if (leader)
      std::printf("test: loss %.4f, accuracy %.4f over %zu images\n", result.loss, result.accuracy, result.count);
    return 0;
  });
}
