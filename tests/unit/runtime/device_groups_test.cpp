// runtime/device_groups.hpp: device d = (replica, stage, shard) of a mesh joins its tensor group (the
// shards of its stage), its pipeline group (the stages of its shard in its replica) and its
// data-parallel group (the replicas of its stage and shard), with ranks in that order; sums over each
// group meet the right devices.
#include <doctest/doctest.h>

#include <memory>
#include <plait/runtime/device_groups.hpp>
#include <thread>
#include <vector>

using namespace plait;

namespace {
struct fake_replica {
  using context = host_context<sequential>;
  context c;
  const context& ctx() const { return c; }
};
using groups = device_groups<host<sequential>, fake_replica>;

std::vector<fake_replica> devices(std::size_t n) {
  std::vector<fake_replica> r(n);
  for (std::size_t d = 0; d < n; ++d) r[d].c.index = d;
  return r;
}

/// Each device l contributes l to an all-reduce over its group of `which` kind; returns the sums.
template <class Pick>
std::vector<float> sums(groups& g, std::size_t n, Pick pick) {
  std::vector<float> out(n);
  std::vector<std::thread> threads;
  for (std::size_t l = 0; l < n; ++l)
    threads.emplace_back([&, l] {
      out[l] = float(l);
      pick(g, l).all_reduce(&out[l], 1);
    });
  for (auto& t : threads) t.join();
  return out;
}
}  // namespace

TEST_CASE("replicate<2, pipeline<2>>: singleton tensor groups, stage pairs, replica pairs") {
  const auto reps = devices(4);
  groups g;
  g.connect(reps, 0, 2, 1, {}, 1);
  REQUIRE(g.tensor.size() == 4);
  for (std::size_t l = 0; l < 4; ++l) {
    CAPTURE(l);
    CHECK(g.tensor[l].size() == 1);
    CHECK(g.pipeline[l].size() == 2);
    CHECK(g.pipeline[l].rank() == l % 2);  // its stage
    CHECK(g.data[l].size() == 2);
    CHECK(g.data[l].rank() == l / 2);  // its replica
    CHECK_FALSE(g.data[l].spans_processes());
  }
  CHECK(sums(g, 4, [](groups& g, std::size_t l) -> auto& { return g.pipeline[l]; }) == std::vector<float>{1, 1, 5, 5});
  CHECK(sums(g, 4, [](groups& g, std::size_t l) -> auto& { return g.data[l]; }) == std::vector<float>{2, 4, 2, 4});
}

TEST_CASE("pipeline<2, partition<2>>: shard pairs per stage, stage pairs per shard, no replicas") {
  const auto reps = devices(4);
  groups g;
  g.connect(reps, 0, 4, 2, {}, 1);
  for (std::size_t l = 0; l < 4; ++l) {
    CAPTURE(l);
    CHECK(g.tensor[l].size() == 2);
    CHECK(g.tensor[l].rank() == l % 2);  // its shard
    CHECK(g.pipeline[l].size() == 2);
    CHECK(g.pipeline[l].rank() == l / 2);  // its stage
    CHECK(g.data[l].size() == 1);
  }
  CHECK(sums(g, 4, [](groups& g, std::size_t l) -> auto& { return g.tensor[l]; }) == std::vector<float>{1, 1, 5, 5});
  CHECK(sums(g, 4, [](groups& g, std::size_t l) -> auto& { return g.pipeline[l]; }) == std::vector<float>{2, 4, 2, 4});
}

TEST_CASE("a process holding the mesh's later replicas: ranks count from its first") {
  const auto reps = devices(2);
  groups g;
  g.connect(reps, 4, 2, 1, {}, 1);  // devices 4 and 5 of the mesh: replica 2, both stages
  CHECK(g.pipeline[0].rank() == 0);
  CHECK(g.pipeline[1].rank() == 1);
  CHECK(g.data[0].size() == 1);  // no other replica in this process, and no processes given
}

TEST_CASE("stages that take turns on one device's thread count as one thread: their messages are spun for") {
  // ZB-V's 2 stages per device on one thread each: counted per stage they would look like twice the
  // cores, and a stage waiting for a message would sleep and pay a wake-up at every dependency.
  const std::size_t cores = available_cores();
  const auto reps = devices(2 * cores);
  groups turns, apart;
  turns.connect(reps, 0, 2 * cores, 1, {}, 1, collectives_on::automatic, 2);
  apart.connect(reps, 0, 2 * cores, 1, {}, 1);
  CHECK(turns.pipeline[0].options().spin_message == local_options::message_spin_dedicated);
  CHECK(apart.pipeline[0].options().spin_message == local_options{}.spin_message);
}
