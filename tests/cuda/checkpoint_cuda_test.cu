// Checkpoints of models on CUDA devices (io/checkpoint.hpp): saved from GPU memory and loaded into a
// host model, saved on the host and loaded into GPU memory, under one device and under policies on
// virtual devices of GPU 0; training continues to what one host device gives. Skipped (exit 77) without a GPU.
#include "cuda_test_main.hpp"

#include <filesystem>
#include <plait/cuda.hpp>
#include <plait/plait.hpp>
#include <vector>

#include "policy/equivalence.hpp"

using namespace plait;
namespace fs = std::filesystem;

namespace {
constexpr auto net = input<6> >> linear<8> >> relu >> linear<8> >> plait::tanh >> linear<4>;

template <class M>
void train(M& m, adam& opt, int from, int steps) {
  for (int s = from; s < from + steps; ++s) {
    const test::batch_set<net> b(8, 900 + std::uint64_t(s));
    m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  }
}
}  // namespace

TEST_CASE_TEMPLATE("a checkpoint goes from GPU memory to the host and back", Policy, single_device, replicate<2>,
                   replicate<2, shard_optimizer>, partition<2>, pipeline<2, microbatches<2>>) {
  const fs::path file = fs::temp_directory_path() / "plait_checkpoint_cuda.safetensors";
  adam o1, o2, o3, o4;
  auto reference = place(net, host_device(), {.max_batch = 8, .seed = 3});
  train(reference, o1, 0, 4);

  auto gpu = place<Policy>(net, virtual_cuda_devices(Policy::device_count), {.max_batch = 8, .seed = 3});
  train(gpu, o2, 0, 2);
  save_checkpoint(gpu, file, o2);  // from GPU memory
  auto host = place(net, host_device(), {.max_batch = 8});
  load_checkpoint(host, file, o3);
  CHECK(host.gather_parameters() == gpu.gather_parameters());
  train(host, o3, 2, 2);
  CHECK(test::max_relative_difference(host.gather_parameters(), reference.gather_parameters()) < 1e-3);

  auto first = place(net, host_device(), {.max_batch = 8, .seed = 3});
  adam o5;
  train(first, o5, 0, 2);
  save_checkpoint(first, file, o5);
  auto back = place<Policy>(net, virtual_cuda_devices(Policy::device_count), {.max_batch = 8});
  load_checkpoint(back, file, o4);  // into GPU memory
  CHECK(back.gather_parameters() == first.gather_parameters());
  train(back, o4, 2, 2);
  CHECK(test::max_relative_difference(back.gather_parameters(), reference.gather_parameters()) < 1e-3);
  fs::remove(file);
}
