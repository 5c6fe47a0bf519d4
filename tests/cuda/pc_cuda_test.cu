// Predictive coding on virtual CUDA devices of GPU 0 (runtime/pc_step.hpp): the element-wise passes
// run as CUDA kernels and the value nodes and error terms cross between devices' streams. Layer-
// parallel PC on two devices and replicate<2> against PC on one host device (cuBLAS rounds its GEMMs
// otherwise than OpenBLAS: within tolerance); fixed-prediction PC against train_step on the GPU.
#include "cuda_test_main.hpp"

#include <plait/cuda.hpp>
#include <plait/plait.hpp>

#include "policy/equivalence.hpp"

using namespace plait;

namespace {
constexpr auto mlp = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<10> >> relu >> linear<4>;

template <class Policy>
double against_host(pc_options o) {
  auto host = place(mlp, host_device(), {.max_batch = 12, .seed = 5});
  auto gpu = place<Policy>(mlp, virtual_cuda_devices(Policy::device_count), {.max_batch = 12, .seed = 5});
  adam a1{.lr = 0.01f}, a2{.lr = 0.01f};
  for (int s = 0; s < 3; ++s) {
    const test::batch_set<mlp> b(12, 90 + std::uint64_t(s));
    const float e1 = host.pc_step(b.xs(), b.ys(), cross_entropy, a1, o);
    const float e2 = gpu.pc_step(b.xs(), b.ys(), cross_entropy, a2, o);
    CHECK(e2 == doctest::Approx(e1).epsilon(1e-4));
  }
  return test::max_relative_difference(gpu.gather_parameters(), host.gather_parameters());
}
}  // namespace

TEST_CASE("PC on CUDA devices equals PC on a host device: one device, layer-parallel, data-parallel") {
  for (const pc_options o : {pc_options{.iterations = 5, .rate = 0.1f, .momentum = 0.5f},
                             pc_options{.iterations = 3, .rate = 0.1f, .variant = pc_variant::incremental},
                             pc_options{.iterations = 4, .rate = 1.0f, .variant = pc_variant::fixed_prediction}}) {
    CHECK(against_host<single_device>(o) < 5 * test::adam_tolerance);
    CHECK(against_host<pipeline<2>>(o) < 5 * test::adam_tolerance);
    CHECK(against_host<replicate<2>>(o) < 5 * test::adam_tolerance);
  }
}

TEST_CASE("fixed-prediction PC on a GPU gives train_step's gradients there") {
  const test::batch_set<mlp> b(16, 41);
  // The parameters after an update by the same gradient: sgd with a rate of 1 turns them into -gradient.
  sgd one{.lr = 1.0f};
  auto bp2 = place(mlp, virtual_cuda_devices(1), {.max_batch = 16, .seed = 3});
  auto pc2 = place(mlp, virtual_cuda_devices(1), {.max_batch = 16, .seed = 3});
  bp2.train_step(b.xs(), b.ys(), cross_entropy, one);
  pc2.pc_step(b.xs(), b.ys(), cross_entropy, one,
              {.iterations = 4, .rate = 1.0f, .variant = pc_variant::fixed_prediction});
  CHECK(test::max_relative_difference(pc2.gather_parameters(), bp2.gather_parameters()) < 1e-5);
}
