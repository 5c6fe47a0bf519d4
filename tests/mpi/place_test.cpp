// place(...) across the processes of an MPI job (comm/mpi/processes.hpp, runtime/model.hpp): a mesh whose
// data-parallel groups span processes trains as one device does on the same global batches, and what the
// processes cannot run is refused on every rank at start-up. CTest runs it under mpiexec -np 2 and -np 3;
// each case picks the policies for the job's size.
#include "mpi_doctest_main.hpp"

#include <chrono>
#include <plait/mpi.hpp>
#include <plait/plait.hpp>
#include <string>
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

// Trains Net under Policy across the job's processes (`local` devices each) and on one device of this
// process, on the same global batches (every rank builds them alike), and returns the largest relative
// parameter difference. The losses agree, and every process holds the same parameters.
template <class Policy, auto Net, class Opt>
double train_across(Opt opt, std::size_t local, std::size_t batch, std::size_t odd = 0, int steps = 4) {
  auto single = place(Net, host_device(), {.max_batch = batch, .seed = 11});
  auto multi = place<Policy>(Net, processes_of(local), {.max_batch = batch, .seed = 11});
  CHECK(multi.process_count() == world().size());
  CHECK(multi.local_device_count() == local);
  CHECK(multi.first_device() == world().rank() * local);
  auto o1 = opt, o2 = opt;
  for (int s = 0; s < steps; ++s) {
    const test::batch_set<Net> b(batch - odd * std::size_t(s % 2), 300 + std::uint64_t(s));
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(same_on_every_rank(multi.gather_parameters()));
  return test::max_relative_difference(multi.gather_parameters(), single.gather_parameters());
}

template <class Policy, auto Net>
void check_across(std::size_t local, std::size_t batch, std::size_t odd = 0) {
  const double s = train_across<Policy, Net>(sgd{.lr = 0.05f, .momentum = 0.9f}, local, batch, odd);
  const double a = train_across<Policy, Net>(adam{.lr = 0.01f}, local, batch, odd);
  MESSAGE("rank ", world().rank(), ": worst relative difference ", s, " (sgd), ", a, " (adam)");
  CHECK(s < test::sgd_tolerance);
  CHECK(a < test::adam_tolerance);
}

// Runs the case for the job's size: two policies written for 2 and for 3 processes.
template <class For2, class For3>
void for_job(auto&& run2, auto&& run3) {
  if (world().size() == 2) run2.template operator()<For2>();
  if (world().size() == 3) run3.template operator()<For3>();
}

}  // namespace

TEST_CASE("replicate<Q> across Q processes of one device equals one device, uneven shares too") {
  const auto run = []<class P>() { check_across<P, mlp>(1, 17, 1); };
  for_job<replicate<2>, replicate<3>>(run, run);
}

TEST_CASE("replicate with a sharded optimizer across processes equals one device") {
  const auto run = []<class P>() { check_across<P, mlp>(1, 24, 1); };
  for_job<replicate<2, shard_optimizer>, replicate<3, shard_optimizer>>(run, run);
}

TEST_CASE("two replicas in each process: the all-reduce is hierarchical, local then across processes") {
  const auto run = []<class P>() { check_across<P, mlp>(2, 24, 1); };
  for_job<replicate<4>, replicate<6>>(run, run);
}

TEST_CASE("a pipeline inside each process, data parallel across processes") {
  const auto run = []<class P>() { check_across<P, mlp>(2, 24); };
  for_job<replicate<2, pipeline<2, microbatches<2>, one_f_one_b>>,
          replicate<3, pipeline<2, microbatches<2>, one_f_one_b>>>(run, run);
}

TEST_CASE("tensor parallel inside each process, data parallel across processes") {
  const auto run = []<class P>() { check_across<P, mlp>(2, 24, 1); };
  for_job<replicate<2, partition<2>>, replicate<3, partition<2>>>(run, run);
}

TEST_CASE("predict and evaluate across processes give every process the model's answer") {
  const auto run = []<class P>() {
    auto multi = place<P>(mlp, processes_of(1), {.max_batch = 32, .seed = 5});
    auto single = place(mlp, host_device(), {.max_batch = 32, .seed = 5});
    auto o1 = sgd{.lr = 0.1f}, o2 = sgd{.lr = 0.1f};
    const test::batch_set<mlp> b(30, 77);
    single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    multi.train_step(b.xs(), b.ys(), cross_entropy, o2);
    const evaluation e1 = single.evaluate(b.xs(), b.ys(), cross_entropy);
    const evaluation e2 = multi.evaluate(b.xs(), b.ys(), cross_entropy);
    CHECK(e2.loss == doctest::Approx(e1.loss).epsilon(1e-5));
    CHECK(e2.accuracy == e1.accuracy);
  };
  for_job<replicate<2>, replicate<3>>(run, run);
}

// What cannot run is refused at place(...), with the same message on every process: no rank waits for
// another that gave up.
TEST_CASE("a job whose processes cannot hold the mesh is refused on every rank") {
  const auto q = world().size();
  SUBCASE("more devices than the policy has") {
    const auto run = []<class P>() { place<P>(mlp, processes_of(2)); };
    const std::string expected = "replicate needs " + std::to_string(q) + " devices, but the job has " +
                                 std::to_string(q) + " processes of 2 devices";
    CHECK_THROWS_WITH_AS((for_job<replicate<2>, replicate<3>>(run, run)), doctest::Contains(expected.c_str()), error);
  }
  SUBCASE("a pipeline split across processes") {
    const auto run = []<class P>() { place<P>(mlp, processes_of(1)); };
    CHECK_THROWS_WITH_AS((for_job<pipeline<2, microbatches<2>>, pipeline<3, microbatches<3>>>(run, run)),
                         doctest::Contains("would split a replica's"), error);
  }
  SUBCASE("processes with different device counts") {
    const auto run = []<class P>() { place<P>(mlp, processes_of(world().rank() == 0 ? 2 : 1)); };
    CHECK_THROWS_WITH_AS((for_job<replicate<3>, replicate<4>>(run, run)),
                         doctest::Contains("devices per process 2 on rank 0 but 1 on rank"), error);
  }
  SUBCASE("processes with different models") {
    constexpr auto other = input<12> >> linear<8> >> relu >> linear<6>;
    const auto run = [&]<class P>() {
      if (world().rank() + 1 == q) place<P>(other, processes_of(1));
      else place<P>(mlp, processes_of(1));
    };
    const std::string last = std::to_string(q - 1);
    CHECK_THROWS_WITH_AS((for_job<replicate<2>, replicate<3>>(run, run)),
                         doctest::Contains(("on rank " + last).c_str()), error);
    CHECK_THROWS_WITH_AS((for_job<replicate<2>, replicate<3>>(run, run)), doctest::Contains("graph signature"), error);
  }
}
