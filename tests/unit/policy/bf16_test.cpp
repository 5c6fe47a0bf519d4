// host_math::bf16 at the model level (backend/host/backend.hpp): a model on a bf16 host device trains
// close to float32 on float32 master weights, its layers' products are those of operands rounded to
// bfloat16, and replicate<2>, partition<2> and pipeline<2> on bf16 devices train as one bf16 device.
// As on CUDA (tests/cuda/model_cuda_test.cu), with products that round on every CPU that accepts the
// mode. Skipped, with a message, on a CPU without bfloat16 instructions (kernels_gemm_bf16 tests the
// refusal).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <plait/core/bf16.hpp>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using test::max_relative_difference;

namespace {

bool bf16_cpu() { return host_detail::has_bf16(host_detail::effective_isa()); }
#define PLAIT_NEEDS_BF16()                                                                    \
  if (!bf16_cpu()) {                                                                          \
    MESSAGE("this CPU has no bfloat16 instructions: host_math::bf16 is refused, not tested"); \
    return;                                                                                   \
  }

constexpr auto mlp = input<20> >> linear<64> >> relu >> linear<32> >> plait::tanh >> linear<10>;
constexpr auto pairs = input<20> >> linear<64> >> relu >> linear<32> >> relu >> linear<10>;  // partition's pairs

}  // namespace

TEST_CASE("with host_math::bf16 an MLP trains close to float32, on float32 master weights") {
  PLAIT_NEEDS_BF16();
  // [docs:host_bf16_place]
  auto bf16 = place(mlp, host_device(1, host_math::bf16), {.max_batch = 64, .seed = 3});  // bf16 products
  // [/docs:host_bf16_place]
  auto f32 = place(mlp, host_device(), {.max_batch = 64, .seed = 3});  // float32 throughout
  const std::vector<float> initial = bf16.gather_parameters();
  CHECK(initial == f32.gather_parameters());
  auto o1 = sgd{.lr = 0.05f, .momentum = 0.9f}, o2 = o1;
  // Tolerances as on CUDA (tests/cuda/model_cuda_test.cu): rounding both operands to 8 significant bits
  // moves each product by up to 2^-8 of itself; summed with random signs over 20..64 terms, outputs and
  // gradients are off by about 1e-3 of their scale. The loss (about 2.3) moves by 1e-4 to 1e-3
  // relative, and the parameters by a few 1e-5 (lr times the momentum sum): 2e-2 holds both with a
  // margin, and float32 policies stay below 2e-5, far under what bf16's drift must exceed (1e-4).
  for (int s = 0; s < 5; ++s) {
    const test::batch_set<mlp> b(64, 40 + std::uint64_t(s));
    const float l1 = f32.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = bf16.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(2e-2));
  }
  const std::vector<float> p1 = f32.gather_parameters(), p2 = bf16.gather_parameters();
  const double worst = max_relative_difference(p2, p1);
  MESSAGE("bf16 against float32 after 5 steps: worst relative difference ", worst);
  CHECK(worst < 2e-2);
  CHECK(worst > 1e-4);  // the products were bf16's: float32 ones would stay below 2e-5
  // The master weights are float32: most are not bfloat16 values, and updates smaller than half a
  // bfloat16 step at the weight (which bfloat16 storage would drop) are kept.
  std::size_t off_grid = 0, fine_updates = 0;
  for (std::size_t i = 0; i < p2.size(); ++i) {
    off_grid += round_to_bf16(p2[i]) != p2[i];
    const float update = p2[i] - initial[i];
    fine_updates += initial[i] != 0 && update != 0 && std::abs(update) < std::ldexp(1.0f, std::ilogb(initial[i]) - 8);
  }
  CHECK(off_grid > p2.size() / 2);
  CHECK(fine_updates > 0);
}

TEST_CASE("a linear layer on a bf16 device gives the products of its operands rounded to bfloat16") {
  // y = x W^T + b with x and W rounded by round_to_bf16 and the sum in double: the bf16 device is within
  // float32 accumulation's error of it (1e-4 of the sum of the terms' magnitudes), the float32 device
  // (its operands unrounded) at least 4e-4 of it away on this data.
  PLAIT_NEEDS_BF16();
  constexpr std::size_t n = 32, F = 64, Out = 16;
  constexpr auto net = input<F> >> linear<Out>;
  auto bf16 = place(net, host_device(1, host_math::bf16), {.max_batch = n, .seed = 5});
  auto f32 = place(net, host_device(), {.max_batch = n, .seed = 5});
  const std::vector<float> p = bf16.gather_parameters();  // W [Out, F], then b [Out]
  const auto x = test::batch_set<net>(n, 6).x;
  const samples<shape<F>> xs{x.data(), n};
  const auto y16 = bf16.predict(xs);
  const std::vector<float> got(y16.data, y16.data + n * Out);
  const auto y32 = f32.predict(xs);
  const std::vector<float> full(y32.data, y32.data + n * Out);
  double bf16_worst = 0, f32_worst = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < Out; ++j) {
      double sum = p[F * Out + j], magnitude = std::abs(sum);
      for (std::size_t l = 0; l < F; ++l) {
        const double t = double(round_to_bf16(x[i * F + l])) * double(round_to_bf16(p[j * F + l]));
        sum += t;
        magnitude += std::abs(t);
      }
      bf16_worst = std::max(bf16_worst, std::abs(got[i * Out + j] - sum) / magnitude);
      f32_worst = std::max(f32_worst, std::abs(full[i * Out + j] - sum) / magnitude);
    }
  CHECK(bf16_worst < 1e-4);
  CHECK(f32_worst > 4e-4);
}

namespace {
/// Trains Net under Policy on `n` bf16 devices and on one bf16 device (and one float32 device) on the
/// same batches; returns the policy's worst relative difference from the one bf16 device, and checks
/// that float32's is far larger (so agreeing with the bf16 device says something).
template <class Policy, auto Net>
double bf16_policy_difference() {
  constexpr std::size_t batch = 24;
  auto one = place(Net, host_device(1, host_math::bf16), {.max_batch = batch, .seed = 11});
  auto f32 = place(Net, host_device(), {.max_batch = batch, .seed = 11});
  auto multi =
      place<Policy>(Net, host_devices(Policy::device_count, 1, host_math::bf16), {.max_batch = batch, .seed = 11});
  auto o1 = sgd{.lr = 0.05f, .momentum = 0.9f}, o2 = o1, o3 = o1;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const test::batch_set<Net> b(batch - 3 * (s % 2), 300 + s);
    const float l1 = one.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.train_step(b.xs(), b.ys(), cross_entropy, o2);
    (void)f32.train_step(b.xs(), b.ys(), cross_entropy, o3);
    CHECK(l2 == doctest::Approx(l1).epsilon(test::loss_tolerance).scale(0));
  }
  const double d = max_relative_difference(multi.gather_parameters(), one.gather_parameters());
  const double from_f32 = max_relative_difference(f32.gather_parameters(), one.gather_parameters());
  MESSAGE(std::string(Policy::name), " on bf16 devices against one bf16 device: ", d,
          " (one float32 device: ", from_f32, ")");
  CHECK(from_f32 > 10 * test::sgd_tolerance);
  return d;
}
}  // namespace

TEST_CASE("replicate<2>, partition<2> and pipeline<2> on bf16 devices train as one bf16 device") {
  // The policies change the order of float32 sums, never which operands are rounded or how: each
  // device rounds what it multiplies, as one device rounds the same rows, columns or blocks. So they are
  // held to float32's policy tolerance (tests/unit/policy/equivalence.hpp), ten times below the distance
  // of one float32 device from one bf16 device. Here: replicate<2> 7e-8, partition<2> 0 (the same bits),
  // pipeline<2> (3 micro-batches, 1F1B) 4e-8; float32 from bf16 6e-4 and 1e-2.
  PLAIT_NEEDS_BF16();
  CHECK(bf16_policy_difference<replicate<2>, mlp>() < test::sgd_tolerance);
  CHECK(bf16_policy_difference<partition<2>, pairs>() < test::sgd_tolerance);
  CHECK(bf16_policy_difference<pipeline<2, microbatches<3>, one_f_one_b>, mlp>() < test::sgd_tolerance);
}
