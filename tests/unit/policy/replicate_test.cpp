// replicate<N>: the equivalence of data-parallel training with one device, and what the policy
// generates (scatter, buckets, overlap, sharded optimizer).
//
// Tolerance: every replica sums its share of the batch and the shares are then summed, while one
// device sums the whole batch in one GEMM; the two differ by float reassociation only. Parameters
// after 5 steps agree to 2e-5 relative (with 1e-6 absolute floor) for SGD and to 1e-4 for Adam,
// whose update divides by sqrt(v) and amplifies tiny gradient differences in rarely-updated weights.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <plait/plait.hpp>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using test::max_relative_difference;

namespace {
constexpr auto mlp = input<12> >> linear<32> >> relu >> linear<16> >> plait::tanh >> linear<5>;

struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed) : x(n * 12), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(5));
  }
  samples<shape<12>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

template <class Policy, class Opt>
void check_equivalence(Opt opt, std::size_t batch, double tolerance, collectives_on where = collectives_on::automatic) {
  constexpr std::size_t N = Policy::device_count;
  auto single = place(mlp, host_device(), {.max_batch = batch, .seed = 9});
  auto multi = place<Policy>(mlp, host_devices(N), {.max_batch = batch, .seed = 9, .collectives = where});
  auto o1 = opt, o2 = opt;
  for (std::uint64_t s = 0; s < 5; ++s) {
    const batch_set b(batch - (s % 2), 100 + s);  // a full batch, then one sample fewer: uneven shares
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(max_relative_difference(multi.parameters(0), single.parameters()) < tolerance);
  for (std::size_t d = 1; d < N; ++d)  // replicas stay bitwise identical
    CHECK(std::equal(multi.parameters(d).begin(), multi.parameters(d).end(), multi.parameters(0).begin()));
}
}  // namespace

TEST_CASE_TEMPLATE("replicate<N> trains as one device on the same global batches", P, replicate<1>, replicate<2>,
                   replicate<3>, replicate<4>) {
  SUBCASE("sgd with momentum") { check_equivalence<P>(sgd{.lr = 0.1f, .momentum = 0.9f}, 30, 2e-5); }
  SUBCASE("adam") { check_equivalence<P>(adam{.lr = 0.01f}, 30, 1e-4); }
}

TEST_CASE_TEMPLATE("the collectives on a communication worker or on the compute threads: the same training", P,
                   replicate<2>, replicate<3, buckets<bucket_plan{.bytes = 1024, .first_bytes = 256}>>,
                   replicate<2, shard_optimizer>) {
  for (const collectives_on where : {collectives_on::worker, collectives_on::compute}) {
    CAPTURE(int(where));
    check_equivalence<P>(sgd{.lr = 0.1f, .momentum = 0.9f}, 30, 2e-5, where);
  }
}

TEST_CASE_TEMPLATE("small buckets and the sharded optimizer give the same results", P,
                   replicate<2, buckets<bucket_plan{.bytes = 1024, .first_bytes = 256}>>, replicate<3, shard_optimizer>,
                   replicate<4, shard_optimizer, buckets<bucket_plan{.bytes = 512, .first_bytes = 512}>>) {
  check_equivalence<P>(adamw{.lr = 0.01f}, 29, 1e-4);
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.5f}, 17, 2e-5);
}

TEST_CASE("the sharded optimizer keeps 1/N of the optimizer state on each device") {
  using sharded = replicate<4, shard_optimizer>;
  auto whole = place<replicate<4>>(mlp, host_devices(4), {.max_batch = 8});
  auto parts = place<sharded>(mlp, host_devices(4), {.max_batch = 8});
  const batch_set b(8, 1);
  auto o1 = adam{}, o2 = adam{};
  whole.train_step(b.xs(), b.ys(), cross_entropy, o1);
  parts.train_step(b.xs(), b.ys(), cross_entropy, o2);
  using L = graph_layout<std::remove_const_t<decltype(mlp)>>;
  CHECK(whole.optimizer_bytes(0) == round_up(2 * L::param_buffer_size * sizeof(float), buffer_alignment));
  std::size_t total = 0;
  for (std::size_t d = 0; d < 4; ++d) {
    // Each bucket is split as evenly as possible: a device holds a quarter, up to one float more per bucket.
    CHECK(parts.optimizer_bytes(d) <= round_up(2 * (L::param_buffer_size / 4 + 4) * sizeof(float), buffer_alignment));
    total += parts.optimizer_bytes(d);
  }
  CHECK(total <= whole.optimizer_bytes(0) + 4 * buffer_alignment);
}

TEST_CASE("a batch smaller than the replica count, or too few devices, is a plait error, not a hang") {
  auto m = place<replicate<3>>(mlp, host_devices(3), {.max_batch = 8});
  const batch_set b(2, 1);
  auto opt = sgd{};
  CHECK_THROWS_WITH_AS(m.train_step(b.xs(), b.ys(), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given a batch of 2 samples for 3 replica(s)"),
                       plait::error);
  CHECK_THROWS_WITH_AS(place<replicate<4>>(mlp, host_devices(2)),
                       doctest::Contains("replicate needs 4 devices but place was given 2"), plait::error);
  const batch_set ok(3, 2);
  CHECK(std::isfinite(m.train_step(ok.xs(), ok.ys(), cross_entropy, opt)));  // the model still works afterwards
}

TEST_CASE("each bucket's all-reduce starts while backward still runs on earlier layers") {
  // A wide first layer makes the first layers' backward long (its weight gradient is about 1 GFLOP
  // per device, milliseconds, so that the check holds on a loaded machine where the communication
  // thread may wait a time slice to run); small buckets put the last layers in a bucket of their
  // own, whose all-reduce must start before that backward ends. With the collectives on the compute
  // threads (where the devices fill the cores), the all-reduce runs between the two backwards instead.
  constexpr auto net = input<1024> >> linear<4096> >> relu >> linear<64> >> relu >> linear<10>;
  using policy = replicate<2, buckets<bucket_plan{.bytes = 64 << 10, .first_bytes = 4 << 10}>>;
  using G = std::remove_const_t<decltype(net)>;
  static_assert(policy::bucket_list<G>.size() >= 2);
  for (const collectives_on where : {collectives_on::worker, collectives_on::compute}) {
    CAPTURE(int(where));
    // [docs:collectives_on]
    auto m = place<policy>(net, host_devices(2), {.max_batch = 256, .collectives = where});  // worker or compute
    // [/docs:collectives_on]
    std::vector<float> x(256 * 1024);
    std::vector<std::int32_t> y(256);
    splitmix64 rng(3);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(10));
    auto opt = sgd{.lr = 0.01f};
    m.train_step(samples<shape<1024>>{x.data(), 256}, class_labels{y.data(), 256}, cross_entropy, opt);
    m.enable_trace();
    m.train_step(samples<shape<1024>>{x.data(), 256}, class_labels{y.data(), 256}, cross_entropy, opt);
    const auto events = m.trace().events();
    const std::string last_stage = "backward stage 0";  // stage 0 holds the first layers
    for (std::uint32_t d = 0; d < 2; ++d) {
      double first_reduce_begin = -1, first_reduce_end = -1, first_layers_backward_begin = -1,
             first_layers_backward_end = -1;
      for (const auto& e : events) {
        if (e.device != d) continue;
        if (std::string(e.name) == "all_reduce bucket 0") first_reduce_begin = e.begin_us, first_reduce_end = e.end_us;
        if (std::string(e.name) == last_stage)
          first_layers_backward_begin = e.begin_us, first_layers_backward_end = e.end_us;
      }
      REQUIRE(first_reduce_begin >= 0);
      REQUIRE(first_layers_backward_end >= 0);
      if (where == collectives_on::worker) CHECK(first_reduce_begin < first_layers_backward_end);
      else CHECK(first_reduce_end <= first_layers_backward_begin);
    }
    const auto path = std::filesystem::temp_directory_path() / "plait_replicate_trace.json";
    m.write_trace(path);
    CHECK(std::filesystem::file_size(path) > 100);
    std::filesystem::remove(path);
  }
}

TEST_CASE("the model's sampler splits each global batch the way the scatter does") {
  auto m = place<replicate<3>>(mlp, host_devices(3), {.max_batch = 10});
  const batch_set all(25, 4);
  in_memory_dataset<shape<12>, class_labels> data(all.x, all.y);
  const sharded_sampler s = m.sampler(data.size(), {.global_batch = 10, .seed = 2, .last = last_batch::pad});
  CHECK(s.replicas() == 3);  // from the policy, not from the user
  loader batches(data, s);
  auto opt = sgd{.lr = 0.01f};
  std::size_t seen = 0;
  for (const auto& b : batches.epoch(1)) {
    for (std::size_t r = 0; r < 3; ++r) {
      const shard part = shard_of(b.size(), 3, r);                 // the rows replica r trains on
      const auto expect = batches.sampler().indices(b.number, r);  // the loader's copy is at epoch 1
      CHECK(std::equal(b.indices.begin() + std::ptrdiff_t(part.begin), b.indices.begin() + std::ptrdiff_t(part.end),
                       expect.begin(), expect.end()));
    }
    CHECK(std::isfinite(m.train_step(b.x, b.y, cross_entropy, opt)));
    seen += b.size();
  }
  CHECK(seen == 30);  // 25 samples padded to 3 full global batches
}
