// Gradient clipping by global norm and the non-finite check (runtime/step_guard.hpp): the clipped
// step equals one device's under every policy, the norm is the gradient's, and a step with an inf
// on one replica is skipped everywhere, leaving the parameters bit-identical; with a sharded
// optimizer too.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <plait/plait.hpp>
#include <vector>

#include "../policy/equivalence.hpp"

using namespace plait;

namespace {
constexpr auto net = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<4>;

// Trains Policy and one device, both clipped to max_norm, on the same batches; checks each step's
// norm agrees (and that clipping acted), returns the largest parameter difference.
template <class Policy, class Opt>
double clipped_both(Opt opt, float max_norm) {
  auto single = place(net, host_device(), {.max_batch = 16, .seed = 5});
  auto multi = place<Policy>(net, host_devices(Policy::device_count), {.max_batch = 16, .seed = 5});
  single.guard_steps({.max_norm = max_norm});
  multi.guard_steps({.max_norm = max_norm});
  auto o1 = opt, o2 = opt;
  for (int s = 0; s < 4; ++s) {
    const test::batch_set<net> b(16, 40 + std::uint64_t(s));
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
    CHECK(multi.gradient_norm() == doctest::Approx(single.gradient_norm()).epsilon(1e-5));
    CHECK(single.gradient_norm() > max_norm);  // the clipping acted
  }
  CHECK(multi.skipped_steps() == 0);
  return test::max_relative_difference(multi.gather_parameters(), single.gather_parameters());
}

template <class Policy>
void check_clipped() {
  const double s = clipped_both<Policy>(sgd{.lr = 0.5f, .momentum = 0.9f}, 0.05f);
  const double a = clipped_both<Policy>(adam{.lr = 0.01f}, 0.05f);
  MESSAGE(std::string(Policy::name), ": worst relative difference ", s, " (sgd), ", a, " (adam)");
  CHECK(s < test::sgd_tolerance);
  CHECK(a < test::adam_tolerance);
}
}  // namespace

TEST_CASE("the norm is the gradient's global L2 norm, and the clipped step is p -= lr * g * max_norm / norm") {
  auto m = place(net, host_device(), {.max_batch = 16, .seed = 5});
  auto plain = place(net, host_device(), {.max_batch = 16, .seed = 5});
  const test::batch_set<net> b(16, 7);
  sgd opt{.lr = 0.5f};
  plain.train_step(b.xs(), b.ys(), cross_entropy, opt);  // unclipped: its gradient and its update
  const std::vector<float> before = m.gather_parameters();
  double square = 0;
  for (float g : plain.gradients()) square += double(g) * g;
  const double norm = std::sqrt(square);
  const float max_norm = float(norm / 4);
  m.guard_steps({.max_norm = max_norm});
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  CHECK(m.gradient_norm() == doctest::Approx(norm).epsilon(1e-12));
  const float coef = float(max_norm / (norm + 1e-6));
  const auto after = m.gather_parameters();
  const auto g = plain.gradients();
  double worst = 0;
  for (std::size_t i = 0; i < after.size(); ++i)
    worst = std::max(worst, std::abs(double(after[i]) - (before[i] - 0.5 * (double(g[i]) * coef))));
  CHECK(worst < 1e-6);
  // A bound above the norm leaves the step as it was.
  auto loose = place(net, host_device(), {.max_batch = 16, .seed = 5});
  loose.guard_steps({.max_norm = float(norm * 2)});
  loose.train_step(b.xs(), b.ys(), cross_entropy, opt);
  CHECK(std::ranges::equal(loose.gather_parameters(), plain.gather_parameters()));
}

TEST_CASE("a clipped step equals one device's under replicate, pipeline, partition and a mesh") {
  check_clipped<replicate<2>>();
  check_clipped<pipeline<2, microbatches<2>>>();
  check_clipped<partition<2>>();  // a row-split linear's bias is on both shards: counted once
  check_clipped<replicate<2, pipeline<2, microbatches<2>>>>();
  check_clipped<replicate<2, partition<2>>>();
  // A sharded optimizer: each replica measures and updates its chunks, then the parameters are gathered.
  check_clipped<replicate<2, shard_optimizer>>();
  check_clipped<replicate<3, shard_optimizer, buckets<bucket_plan{.bytes = 256}>>>();
}

TEST_CASE("with a sharded optimizer, an inf on one replica's rows skips the step on every replica") {
  using sharded = replicate<2, shard_optimizer, buckets<bucket_plan{.bytes = 256}>>;
  auto m = place<sharded>(net, host_devices(2), {.max_batch = 16, .seed = 5});
  auto fresh = place<sharded>(net, host_devices(2), {.max_batch = 16, .seed = 5});
  m.guard_steps({.max_norm = 1.0f, .skip_nonfinite = true});
  fresh.guard_steps({.max_norm = 1.0f, .skip_nonfinite = true});
  adam o1{.lr = 0.01f}, o2{.lr = 0.01f};
  test::batch_set<net> bad(16, 3);
  bad.x[12 * 8 + 3] = std::numeric_limits<float>::infinity();  // row 12: replica 1's share
  const std::vector<float> before0(m.parameters(0).begin(), m.parameters(0).end());
  CHECK(!std::isfinite(m.train_step(bad.xs(), bad.ys(), cross_entropy, o1)));
  CHECK(m.skipped_steps() == 1);
  CHECK(std::ranges::equal(m.parameters(0), before0));
  CHECK(std::ranges::equal(m.parameters(1), before0));
  const test::batch_set<net> good(16, 4);
  m.train_step(good.xs(), good.ys(), cross_entropy, o1);
  fresh.train_step(good.xs(), good.ys(), cross_entropy, o2);
  CHECK(std::ranges::equal(m.parameters(0), fresh.parameters(0)));
  CHECK(std::ranges::equal(m.parameters(1), fresh.parameters(1)));
  CHECK(std::ranges::equal(m.parameters(0), m.parameters(1)));  // the replicas gathered each other's chunks
}

TEST_CASE("an inf on one replica's rows skips the step on every replica, leaving parameters and optimizer alike") {
  auto m = place<replicate<2>>(net, host_devices(2), {.max_batch = 16, .seed = 5});
  auto fresh = place<replicate<2>>(net, host_devices(2), {.max_batch = 16, .seed = 5});
  m.guard_steps({.skip_nonfinite = true});
  fresh.guard_steps({.skip_nonfinite = true});
  adam o1{.lr = 0.01f}, o2{.lr = 0.01f};
  test::batch_set<net> bad(16, 3);
  bad.x[12 * 8 + 3] = std::numeric_limits<float>::infinity();  // row 12: replica 1's share
  const std::vector<float> before0(m.parameters(0).begin(), m.parameters(0).end());
  const float loss = m.train_step(bad.xs(), bad.ys(), cross_entropy, o1);
  CHECK(!std::isfinite(loss));
  CHECK(m.skipped_steps() == 1);
  CHECK(!std::isfinite(m.gradient_norm()));
  CHECK(std::ranges::equal(m.parameters(0), before0));
  CHECK(std::ranges::equal(m.parameters(1), before0));
  // The next good step is the first step of a model that never saw the bad batch: Adam's count too.
  const test::batch_set<net> good(16, 4);
  m.train_step(good.xs(), good.ys(), cross_entropy, o1);
  fresh.train_step(good.xs(), good.ys(), cross_entropy, o2);
  CHECK(m.skipped_steps() == 1);
  CHECK(std::ranges::equal(m.parameters(0), fresh.parameters(0)));
  CHECK(std::ranges::equal(m.parameters(1), fresh.parameters(1)));
}

TEST_CASE("a NaN under pipeline and partition is skipped alike; without the check it reaches the parameters") {
  test::batch_set<net> bad(16, 3);
  bad.x[2] = std::numeric_limits<float>::quiet_NaN();
  auto p = place<pipeline<2, microbatches<2>>>(net, host_devices(2), {.max_batch = 16, .seed = 5});
  p.guard_steps({.max_norm = 1.0f, .skip_nonfinite = true});
  const auto before = p.gather_parameters();
  sgd opt{.lr = 0.1f};
  CHECK(std::isnan(p.train_step(bad.xs(), bad.ys(), cross_entropy, opt)));
  CHECK(p.skipped_steps() == 1);
  CHECK(std::ranges::equal(p.gather_parameters(), before));
  auto t = place<partition<2>>(net, host_devices(2), {.max_batch = 16, .seed = 5});
  t.guard_steps({.skip_nonfinite = true});
  t.train_step(bad.xs(), bad.ys(), cross_entropy, opt);
  CHECK(t.skipped_steps() == 1);
  CHECK(std::ranges::equal(t.gather_parameters(), before));
  auto unguarded = place(net, host_device(), {.max_batch = 16, .seed = 5});
  CHECK(std::isnan(unguarded.train_step(bad.xs(), bad.ys(), cross_entropy, opt)));  // relu no longer hides it
  bool any_nan = false;
  for (float v : unguarded.gather_parameters()) any_nan = any_nan || std::isnan(v);
  CHECK(any_nan);
}

TEST_CASE("guard_steps refuses what it cannot do") {
  auto m = place(net, host_device(), {.max_batch = 16});
  CHECK_THROWS_WITH_AS(m.guard_steps({.max_norm = -1.0f}), doctest::Contains("plait: guard_steps is given max_norm -1"),
                       error);
  CHECK_THROWS_WITH_AS(m.guard_steps({.max_norm = std::numeric_limits<float>::quiet_NaN()}), doctest::Contains("Fix:"),
                       error);
}

TEST_CASE("docs/training.md: a guarded training loop") {
  const test::batch_set<net> batch(16, 21);
  // [docs:guard]
  auto m = place<replicate<2>>(net, host_devices(2), {.max_batch = 16});
  m.guard_steps({.max_norm = 1.0f,          // clip the gradient's global L2 norm to 1
                 .skip_nonfinite = true});  // an inf/NaN loss or gradient skips the step on every rank
  adam opt{.lr = 1e-3f};
  const float loss = m.train_step(batch.xs(), batch.ys(), cross_entropy, opt);
  std::printf("loss %.4f, gradient norm %.3f, %zu step(s) skipped\n", loss, m.gradient_norm(), m.skipped_steps());
  // [/docs:guard]
  CHECK(std::isfinite(loss));
  CHECK(m.skipped_steps() == 0);
}
