// The training-loop pieces across the processes of an MPI job: gradient clipping and the
// non-finite check (runtime/step_guard.hpp): the norm counts each parameter once over every
// process, the clipped step equals one device's, and an inf in one process's rows skips the step on
// every rank; gradient accumulation (runtime/accumulate_step.hpp) equals one device's step on the
// whole batch; ranks that disagree on the batch or the optimizer's settings stop with an error
// naming them (runtime/step_agreement.hpp); replicas that would start apart are refused at place
// (runtime/replica_check.hpp). CTest runs it under mpiexec -np 2 and -np 3.
#include "mpi_doctest_main.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <plait/mpi.hpp>
#include <plait/plait.hpp>
#include <string>
#include <utility>
#include <vector>

#include "equivalence.hpp"
#include "processes.hpp"

using namespace plait;
using plait_test::comm;
using plait_test::processes_of;
using plait_test::same_on_every_rank;
using plait_test::world;

namespace {

constexpr auto mlp = input<12> >> linear<16> >> relu >> linear<20> >> plait::tanh >> linear<6>;

// This process's rows of a whole batch b, as a loader over the model's sampler reads them: the steps
// below pass only those, with the global batch's size (per-process data).
template <class Model>
std::pair<samples<shape<12>>, class_labels> mine(const Model& m, const test::batch_set<mlp>& b) {
  const shard r = m.rows_of_process(b.y.size());
  return {{b.x.data() + r.begin * 12, r.size()}, {b.y.data() + r.begin, r.size()}};
}

template <class Policy>
void check_clipped(std::size_t local) {
  auto single = place(mlp, host_device(), {.max_batch = 24, .seed = 11});
  auto multi = place<Policy>(mlp, processes_of(local), {.max_batch = 24, .seed = 11});
  single.guard_steps({.max_norm = 0.05f});
  multi.guard_steps({.max_norm = 0.05f});
  sgd o1{.lr = 0.5f, .momentum = 0.9f}, o2 = o1;
  for (int s = 0; s < 4; ++s) {
    const test::batch_set<mlp> b(24, 50 + std::uint64_t(s));
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const auto [x, y] = mine(multi, b);
    const float l2 = multi.train_step(x, y, cross_entropy, o2, process_rows{.global_batch = 24});
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
    CHECK(multi.gradient_norm() == doctest::Approx(single.gradient_norm()).epsilon(1e-5));
    CHECK(single.gradient_norm() > 0.05);
  }
  CHECK(same_on_every_rank(multi.gather_parameters()));
  const double worst = test::max_relative_difference(multi.gather_parameters(), single.gather_parameters());
  MESSAGE("rank ", world().rank(), ": worst relative difference ", worst);
  CHECK(worst < test::sgd_tolerance);
}

}  // namespace

// The cases for a job of P processes, P in {2, 3}.
template <std::size_t P>
void clipped_cases() {
  check_clipped<replicate<P>>(1);
  check_clipped<replicate<P, pipeline<2, microbatches<2>>>>(2);
  check_clipped<replicate<P, shard_optimizer>>(1);  // each process measures and updates its chunks
}

TEST_CASE("a clipped step across processes equals one device's: replicate, a mesh of pipelines, a sharded optimizer") {
  REQUIRE((world().size() == 2 || world().size() == 3));
  if (world().size() == 2) clipped_cases<2>();
  else clipped_cases<3>();
}

TEST_CASE("an inf in rank 1's rows skips the step on every rank; the parameters stay bit-identical") {
  const std::size_t p = world().size();
  auto m = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 18, .seed = 11});
  m.guard_steps({.max_norm = 1.0f, .skip_nonfinite = true});
  test::batch_set<mlp> bad(18, 9);
  const std::size_t row = shard_of(18, 6, 6 / p).begin;          // rank 1's first row: its first replica is 6 / p
  bad.x[row * 12 + 4] = std::numeric_limits<float>::infinity();  // rank 1's rows alone hold it
  const auto before = m.gather_parameters();
  adam opt{.lr = 0.01f};
  const auto [x, y] = mine(m, bad);  // rank 1's rows hold the inf
  const float loss = m.train_step(x, y, cross_entropy, opt, process_rows{.global_batch = 18});
  CHECK(!std::isfinite(loss));
  CHECK(m.skipped_steps() == 1);
  CHECK(m.gather_parameters() == before);
  const test::batch_set<mlp> good(18, 10);
  const auto [gx, gy] = mine(m, good);
  CHECK(std::isfinite(m.train_step(gx, gy, cross_entropy, opt, process_rows{.global_batch = 18})));
  CHECK(m.skipped_steps() == 1);
  CHECK(m.gather_parameters() != before);
  CHECK(same_on_every_rank(m.gather_parameters()));
}

template <std::size_t P>
void accumulated_case() {
  auto single = place(mlp, host_device(), {.max_batch = 36, .seed = 11});
  auto multi = place<replicate<P, pipeline<2, microbatches<2>>>>(mlp, processes_of(2), {.max_batch = 12, .seed = 11});
  adam o1{.lr = 0.01f}, o2 = o1;
  for (int s = 0; s < 3; ++s) {
    const test::batch_set<mlp> b(36, 80 + std::uint64_t(s));  // 3 chunks of 12: 6 or 4 rows per replica
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const auto [x, y] = mine(multi, b);
    const float l2 = multi.accumulate_step(x, y, cross_entropy, o2, 3, process_rows{.global_batch = 36});
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(same_on_every_rank(multi.gather_parameters()));
  CHECK(test::max_relative_difference(multi.gather_parameters(), single.gather_parameters()) < test::adam_tolerance);
}

TEST_CASE("an accumulated step across processes equals one device's step on the whole batch") {
  if (world().size() == 2) accumulated_case<2>();
  else accumulated_case<3>();
}

TEST_CASE("ranks that disagree on the global batch or the optimizer's settings stop at that step, every rank alike") {
  const std::size_t p = world().size();
  const bool second = world().rank() == 1;
  const std::string others = p == 2 ? "rank 0" : "ranks 0, 2";  // the ranks that agree with rank 0
  const test::batch_set<mlp> b(18, 12);
  SUBCASE("a rank given fewer rows") {
    auto m = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 18, .seed = 11});
    sgd opt{.lr = 0.1f};
    CHECK(std::isfinite(m.train_step(b.xs(), b.ys(), cross_entropy, opt)));  // agreeing: no error
    const std::size_t n = second ? 12 : 18;
    CHECK_THROWS_WITH_AS(
        m.train_step(samples<shape<12>>{b.x.data(), n}, class_labels{b.y.data(), n}, cross_entropy, opt),
        doctest::Contains(
            cat("plait: the ranks of this job disagree at step 1: global batch 18 on ", others, " but 12 on rank 1. ")
                .c_str()),
        error);
  }
  SUBCASE("a rank with another learning rate, in a guarded step") {
    auto m = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 18, .seed = 11});
    m.guard_steps({.max_norm = 1.0f});
    adam opt{.lr = second ? 0.02f : 0.01f};
    CHECK_THROWS_WITH_AS(
        m.train_step(b.xs(), b.ys(), cross_entropy, opt),
        doctest::Contains(
            cat("at step 0: learning rate 0.01 on ", others, " but 0.02 on rank 1; optimizer settings hash").c_str()),
        error);
  }
  SUBCASE("a rank with another momentum, in an accumulated step") {
    auto m = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 9, .seed = 11});
    sgd opt{.lr = 0.1f, .momentum = second ? 0.8f : 0.9f};
    CHECK_THROWS_WITH_AS(m.accumulate_step(b.xs(), b.ys(), cross_entropy, opt, 2),
                         doctest::Contains("at step 0: optimizer settings hash"), error);
  }
}

TEST_CASE("replicas that would start from different parameters are refused at place, on every rank") {
  const std::size_t p = world().size();
  const std::uint64_t seed = world().rank() == 1 ? 12 : 11;
  CHECK_THROWS_WITH_AS(place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 18, .seed = seed}),
                       doctest::Contains("plait: the replicas' initial parameters differ across processes: checksum "),
                       error);
  if (p == 2)
    CHECK_NOTHROW(
        place<replicate<2, pipeline<2, microbatches<2>>>>(mlp, processes_of(2), {.max_batch = 16, .seed = 11}));
  else
    CHECK_NOTHROW(
        place<replicate<3, pipeline<2, microbatches<2>>>>(mlp, processes_of(2), {.max_batch = 16, .seed = 11}));
}
