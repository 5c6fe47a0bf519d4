// Predictive coding across the processes of an MPI job (runtime/pc_step.hpp): as every policy,
// plait spans the data-parallel dimension across processes, so replicate<P> (one device per process)
// and replicate<P, pipeline<2>> (layer-parallel PC on the two devices of each process) give one
// device's parameters on the same global batch, every rank ending with the same parameters, and the
// energies per iteration are summed over every process. CTest runs it under mpiexec -np 2 and -np 3.
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

constexpr auto mlp = input<12> >> linear<16> >> relu >> linear<20> >> plait::tanh >> linear<14> >> relu >> linear<6>;

// Three PC steps of Policy (`local` devices per process) and of one device, on the same batches
// of `batch` samples, with optimizer `opt`; the energies agree and the replicas end equal. The largest
// relative difference.
template <class Policy, class Opt = adam>
double trained_against_one_device(std::size_t local, pc_options o, std::size_t batch = 12,
                                  Opt opt = adam{.lr = 0.01f}) {
  auto single = place(mlp, host_device(), {.max_batch = batch, .seed = 4});
  auto multi = place<Policy>(mlp, processes_of(local), {.max_batch = batch, .seed = 4});
  Opt a1 = opt, a2 = opt;
  for (int s = 0; s < 3; ++s) {
    const test::batch_set<mlp> b(batch, 30 + std::uint64_t(s));
    const float e1 = single.pc_step(b.xs(), b.ys(), cross_entropy, a1, o);
    const float e2 = multi.pc_step(b.xs(), b.ys(), cross_entropy, a2, o);
    CHECK(e2 == doctest::Approx(e1).epsilon(1e-5));
  }
  CHECK(same_on_every_rank(multi.gather_parameters()));
  return test::max_relative_difference(multi.gather_parameters(), single.gather_parameters());
}

constexpr pc_options settings[] = {{.iterations = 6, .rate = 0.1f, .momentum = 0.5f},
                                   {.iterations = 3, .rate = 0.1f, .variant = pc_variant::incremental},
                                   {.iterations = 4, .rate = 1.0f, .variant = pc_variant::fixed_prediction}};

template <std::size_t P>
void check_processes() {
  for (const pc_options& o : settings) {
    const double dp = trained_against_one_device<replicate<P>>(1, o);
    const double mesh = trained_against_one_device<replicate<P, pipeline<2>>>(2, o);
    MESSAGE("rank ", world().rank(), ", ", std::string(to_string(o.variant)), ": replicate ", dp, ", mesh ", mesh);
    CHECK(dp < test::adam_tolerance);
    CHECK(mesh < test::adam_tolerance);
  }
  // Shares long enough that each process's pipeline streams its opening forward in 2 chunks. With
  // SGD: on 773 samples, Adam magnifies the rounding of gradients that nearly cancel past its tolerance
  // whichever way they are summed (one device alone moves 3.8e-4 if its weight gradients change library,
  // kernels/gemm_host.hpp), while SGD keeps a wrong chunk far above the rounding (8e-8 there).
  const double chunked = trained_against_one_device<replicate<P, pipeline<2>>>(
      2, settings[0], P * 2 * pc_chunk_rows + 5, sgd{.lr = 0.1f, .momentum = 0.9f});
  MESSAGE("rank ", world().rank(), ", opening forward in chunks: mesh ", chunked);
  CHECK(chunked < test::sgd_tolerance);
}

}  // namespace

TEST_CASE("PC across processes equals PC on one device: replicate<P>, and layer-parallel PC in every process") {
  if (world().size() == 2) check_processes<2>();
  if (world().size() == 3) check_processes<3>();
}

TEST_CASE("the energies per iteration are summed over every process's replicas and stages") {
  std::vector<double> one(7), many(7);
  auto single = place(mlp, host_device(), {.max_batch = 12, .seed = 4});
  const test::batch_set<mlp> b(12, 3);
  sgd s1{.lr = 0.1f}, s2{.lr = 0.1f};
  single.pc_step(b.xs(), b.ys(), cross_entropy, s1, {.iterations = 6, .rate = 0.05f, .energies = one});
  if (world().size() == 2) {
    auto m = place<replicate<2, pipeline<2>>>(mlp, processes_of(2), {.max_batch = 12, .seed = 4});
    m.pc_step(b.xs(), b.ys(), cross_entropy, s2, {.iterations = 6, .rate = 0.05f, .energies = many});
  } else {
    auto m = place<replicate<3, pipeline<2>>>(mlp, processes_of(2), {.max_batch = 12, .seed = 4});
    m.pc_step(b.xs(), b.ys(), cross_entropy, s2, {.iterations = 6, .rate = 0.05f, .energies = many});
  }
  for (std::size_t t = 0; t < one.size(); ++t) CHECK(many[t] == doctest::Approx(one[t]).epsilon(1e-5));
}
