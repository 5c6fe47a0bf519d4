// Per-process data across the processes of an MPI job: each process passes only its replicas' rows
// of the global batch (model::train_step(x, y, loss, opt, process_rows{.global_batch = n}), a loader's batch over
// model.sampler(...) with replicas = model.process_replicas()), and the parameters equal one
// device's steps on the whole batches; a rank whose epoch has fewer batches stops every rank at the
// epoch's first step with an error naming it; rows that are not this process's are refused.
// CTest runs it under mpiexec -np 2 and -np 3.
#include "mpi_doctest_main.hpp"

#include <cstdint>
#include <plait/mpi.hpp>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "equivalence.hpp"
#include "processes.hpp"

using namespace plait;
using plait_test::processes_of;
using plait_test::same_on_every_rank;
using plait_test::world;

namespace {

constexpr auto mlp = input<12> >> linear<16> >> relu >> linear<20> >> plait::tanh >> linear<6>;
using dataset = in_memory_dataset<shape<12>, class_labels>;

template <class... A>
doctest::String test_text(const A&... a) {
  return cat(a...).c_str();
}

dataset make_data(std::size_t n, std::uint64_t seed) {
  const test::batch_set<mlp> b(n, seed);
  return dataset(b.x, b.y);
}

// Steps on batches of n samples: one device on the whole batch, the model on this process's rows.
template <class Policy>
void check_rows(std::size_t local, std::size_t n) {
  auto single = place(mlp, host_device(), {.max_batch = 32, .seed = 11});
  auto multi = place<Policy>(mlp, processes_of(local), {.max_batch = 32, .seed = 11});
  const shard mine = multi.rows_of_process(n);
  sgd o1{.lr = 0.3f, .momentum = 0.9f}, o2 = o1;
  for (int s = 0; s < 4; ++s) {
    const test::batch_set<mlp> b(n, 40 + std::uint64_t(s));
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.train_step(samples<shape<12>>{b.x.data() + mine.begin * 12, mine.size()},
                                      class_labels{b.y.data() + mine.begin, mine.size()}, cross_entropy, o2,
                                      process_rows{.global_batch = n});
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(same_on_every_rank(multi.gather_parameters()));
  CHECK(test::max_relative_difference(multi.gather_parameters(), single.gather_parameters()) < test::sgd_tolerance);
}

}  // namespace

TEST_CASE("each process passes only its replicas' rows: the same steps as one device on the whole batch") {
  const std::size_t p = world().size();
  REQUIRE((p == 2 || p == 3));
  if (p == 2) {
    check_rows<replicate<2>>(1, 16);
    check_rows<replicate<2>>(1, 17);  // uneven: rows 0-8 on rank 0, 9-16 on rank 1
    check_rows<replicate<4>>(2, 18);  // two replicas per process
    check_rows<replicate<2, pipeline<2, microbatches<2>>>>(2, 16);
  } else {
    check_rows<replicate<3>>(1, 16);  // 6, 5 and 5 rows
    check_rows<replicate<3, partition<2>>>(2, 15);
  }
}

TEST_CASE("an accumulated step on this process's rows equals one device's step on the whole batch") {
  const std::size_t p = world().size();
  auto single = place(mlp, host_device(), {.max_batch = 48, .seed = 11});
  auto multi = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 16, .seed = 11});
  const std::size_t n = 40;
  const shard mine = multi.rows_of_process(n);
  adam o1{.lr = 0.01f}, o2 = o1;
  for (int s = 0; s < 3; ++s) {
    const test::batch_set<mlp> b(n, 70 + std::uint64_t(s));
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.accumulate_step(samples<shape<12>>{b.x.data() + mine.begin * 12, mine.size()},
                                           class_labels{b.y.data() + mine.begin, mine.size()}, cross_entropy, o2, 3,
                                           process_rows{.global_batch = n});
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(same_on_every_rank(multi.gather_parameters()));
  CHECK(test::max_relative_difference(multi.gather_parameters(), single.gather_parameters()) < test::adam_tolerance);
}

TEST_CASE("a loader over the model's sampler reads only this process's rows, and trains as one device on all") {
  const std::size_t p = world().size();
  const dataset train = make_data(100, 5);
  auto single = place(mlp, host_device(), {.max_batch = 24, .seed = 11});
  auto multi = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 24, .seed = 11});
  const sampler_options so{.global_batch = 24, .seed = 3, .last = last_batch::pad};
  // [docs:process_loader]
  loader mine(train, multi.sampler(train.size(), so), {.replicas = multi.process_replicas()});
  // [/docs:process_loader]
  loader whole(train, single.sampler(train.size(), so));  // every row, in the same order
  adam o1{.lr = 0.01f}, o2 = o1;
  std::size_t rows_read = 0;
  for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
    for (auto& b : whole.epoch(epoch)) single.train_step(b.x, b.y, cross_entropy, o1);
    // [docs:process_step]
    for (auto& b : mine.epoch(epoch)) multi.train_step(b, cross_entropy, o2);  // this process's rows only
    // [/docs:process_step]
    rows_read += mine.batches_per_epoch() * mine.options().batch_size;
  }
  CHECK(mine.options().batch_size == 24 / p);
  CHECK(rows_read == 2 * 5 * 24 / p);  // 100 samples padded to 5 global batches
  CHECK(same_on_every_rank(multi.gather_parameters()));
  CHECK(test::max_relative_difference(multi.gather_parameters(), single.gather_parameters()) < test::adam_tolerance);
}

TEST_CASE("a rank whose epoch has fewer batches stops every rank at the epoch's first step, naming it") {
  const std::size_t p = world().size();
  const bool last = world().rank() + 1 == p;
  const dataset train = make_data(last ? 80 : 100, 5);  // the last rank's data holds 4 global batches, the others' 5
  auto m = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 24, .seed = 11});
  loader mine(train, m.sampler(train.size(), {.global_batch = 24, .seed = 3}), {.replicas = m.process_replicas()});
  sgd opt{.lr = 0.1f};
  const std::string others = p == 2 ? "rank 0" : "ranks 0, 1";
  std::string message;
  try {
    for (auto& b : mine.epoch(0)) m.train_step(b, cross_entropy, opt);
  } catch (const error& e) {
    message = e.what();
  }
  CHECK(message.find(cat("plait: the ranks' epochs end at different steps: at step 0 the batches left in the epoch "
                         "are 4 on ",
                         others, " but 3 on rank ", p - 1, ". ")) != std::string::npos);
}

TEST_CASE("rows that are not this process's share of the global batch are refused before the step") {
  const std::size_t p = world().size();
  auto m = place<replicate<6>>(mlp, processes_of(6 / p), {.max_batch = 24, .seed = 11});
  const test::batch_set<mlp> b(24, 9);
  sgd opt{.lr = 0.1f};
  const auto before = m.gather_parameters();
  // Every rank passes the whole batch where its share is wanted: every rank refuses alike, nothing runs.
  CHECK_THROWS_WITH_AS(
      m.train_step(b.xs(), b.ys(), cross_entropy, opt, process_rows{.global_batch = 24}),
      doctest::Contains(test_text("plait: train_step is given 24 samples and 24 targets as this process's "
                                  "rows of a global batch of 24. this process (rank ",
                                  world().rank(), " of ", p, ") holds replicas [")),
      error);
  CHECK(m.gather_parameters() == before);
  CHECK(m.steps() == 0);
}
