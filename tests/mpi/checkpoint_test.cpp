// Checkpoints across processes (io/checkpoint.hpp): a job of 2 processes (replicate<2, shard_optimizer>,
// one device each, the optimizer's state split between them) trains k steps from a loader and saves;
// a job of 1 process and a job of 3 (replicate<3> across them) load it, resume the loader where it
// stood and train j more steps: the parameters equal k + j steps on one device, to float tolerance
// (the replicas sum gradients in another order; test::adam_tolerance). A loader whose global batch
// cannot continue the saved position is refused on every rank, and the model is left as it was.
//
// CTest runs `-tc=save*` under mpiexec -np 2, then `-tc=load*` under -np 1 and -np 3, in one folder.
#include "mpi_doctest_main.hpp"

#include <chrono>
#include <filesystem>
#include <plait/mpi.hpp>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using plait_test::world;

namespace {
constexpr auto net = input<12> >> linear<16> >> relu >> linear<20> >> plait::tanh >> linear<6>;
constexpr std::size_t global_batch = 12, k = 3, j = 2;
const std::filesystem::path file = "mpi_checkpoint.safetensors";
using dataset = in_memory_dataset<shape<12>, class_labels>;

dataset data() {
  std::vector<float> x(96 * 12);
  std::vector<std::int32_t> y(96);
  splitmix64 rng(5);
  for (auto& v : x) v = rng.uniform(-1, 1);
  for (auto& v : y) v = std::int32_t(rng.below(6));
  return dataset(std::move(x), std::move(y));
}

// k + j steps on one device of this process, from a loader over the whole global batches.
std::vector<float> uninterrupted(const dataset& d) {
  auto m = place(net, host_device(), {.max_batch = global_batch, .seed = 11});
  adam opt;
  loader<dataset> all(d, sharded_sampler(d.size(), 1, {.global_batch = global_batch, .seed = 2}));
  std::size_t steps = 0;
  for (auto& b : all.epoch(0))
    if (steps++ < k + j) m.train_step(b.x, b.y, cross_entropy, opt);
  return m.gather_parameters();
}

// Trains `steps` global batches, from the loader's position (epoch 0, batch `from`).
template <class M>
void train(M& m, adam& opt, loader<dataset>& mine, std::size_t from, std::size_t steps) {
  for (auto& b : mine.epoch(0, from)) {  // saved inside the loop, the position is the batches taken
    m.train_step(b.x, b.y, cross_entropy, opt);
    if (--steps == 0) break;
  }
}

template <std::size_t N>
auto placed_across() {
  return place<replicate<N>>(net, across_processes(world(), host_devices(1), {.deadline = std::chrono::seconds(30)}),
                             {.max_batch = global_batch, .seed = 11});
}
}  // namespace

TEST_CASE("save: 2 processes, the optimizer sharded between them, save after k steps") {
  REQUIRE(world().size() == 2);
  const dataset d = data();
  auto m = place<replicate<2, shard_optimizer>>(
      net, across_processes(world(), host_devices(1), {.deadline = std::chrono::seconds(30)}),
      {.max_batch = global_batch, .seed = 11});
  const sharded_sampler s = m.sampler(d.size(), {.global_batch = global_batch, .seed = 2});
  loader<dataset> mine(d, s);  // every process reads the global batches; each trains on its replica's share
  adam opt;
  train(m, opt, mine, 0, k);
  std::filesystem::remove(file);
  save_checkpoint(m, file, opt, mine);
  CHECK(std::filesystem::exists(file));
  // rank 0 cannot write: every rank fails alike (the others learn it before the rename), the file stays
  const auto saved = std::filesystem::last_write_time(file);
  CHECK_THROWS_WITH_AS(save_checkpoint(m, "no_such_folder/ck.safetensors", opt),
                       doctest::Contains("saving 'no_such_folder/ck.safetensors'"), plait::error);
  CHECK(std::filesystem::last_write_time(file) == saved);
}

TEST_CASE("load: under 1 or 3 processes, resume the loader and train on") {
  const dataset d = data();
  const std::vector<float> expected = uninterrupted(d);
  adam opt;
  if (world().size() == 1) {
    auto m = place(net, host_device(), {.max_batch = global_batch, .seed = 0});
    loader<dataset> all(d, m.sampler(d.size(), {.global_batch = global_batch, .seed = 2}));
    const data_position at = load_checkpoint(m, file, opt, all);
    CHECK(at.epoch == 0);
    CHECK(at.batch == k);
    train(m, opt, all, at.batch, j);
    CHECK(test::max_relative_difference(m.gather_parameters(), expected) < test::adam_tolerance);
  } else {
    REQUIRE(world().size() == 3);
    auto m = placed_across<3>();
    const auto before = m.gather_parameters();
    loader<dataset> wrong(d, m.sampler(d.size(), {.global_batch = 24, .seed = 2}));
    CHECK_THROWS_WITH_AS(load_checkpoint(m, file, opt, wrong), doctest::Contains("stopped after 36 samples of epoch 0"),
                         plait::error);
    CHECK(m.gather_parameters() == before);
    CHECK(m.steps() == 0);
    loader<dataset> mine(d, m.sampler(d.size(), {.global_batch = global_batch, .seed = 2}));
    const data_position at = load_checkpoint(m, file, opt, mine);
    CHECK(at.batch == k);
    CHECK(m.steps() == k);
    train(m, opt, mine, at.batch, j);
    CHECK(test::max_relative_difference(m.gather_parameters(), expected) < test::adam_tolerance);
  }
}
