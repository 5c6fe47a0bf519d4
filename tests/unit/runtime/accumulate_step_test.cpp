// Gradient accumulation (runtime/accumulate_step.hpp): K chunks synchronised once give the step of
// one device on the whole batch, under every policy; a misuse is refused before anything runs.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "../policy/equivalence.hpp"

using namespace plait;

namespace {
constexpr auto net = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<4>;

// Trains Policy with accumulate_step (3 chunks of at most 8 samples) and one device with train_step
// on the whole batch of 24; the losses agree, returns the largest parameter difference.
template <class Policy, class Opt>
double accumulated_both(Opt opt, step_guard_options guard = {}) {
  auto single = place(net, host_device(), {.max_batch = 24, .seed = 9});
  auto multi = place<Policy>(net, host_devices(Policy::device_count), {.max_batch = 8, .seed = 9});
  single.guard_steps(guard);
  multi.guard_steps(guard);
  auto o1 = opt, o2 = opt;
  for (int s = 0; s < 4; ++s) {
    const test::batch_set<net> b(24, 70 + std::uint64_t(s));
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = multi.accumulate_step(b.xs(), b.ys(), cross_entropy, o2, 3);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  return test::max_relative_difference(multi.gather_parameters(), single.gather_parameters());
}

template <class Policy>
void check_accumulated() {
  const double s = accumulated_both<Policy>(sgd{.lr = 0.1f, .momentum = 0.9f});
  const double a = accumulated_both<Policy>(adam{.lr = 0.01f});
  double c = 0;  // guard_steps refuses a sharded optimizer (step_guard_test.cpp)
  if constexpr (!plan_of<Policy, test::graph_of<net>>::sharded)
    c = accumulated_both<Policy>(sgd{.lr = 0.5f}, {.max_norm = 0.05f, .skip_nonfinite = true});
  MESSAGE(std::string(Policy::name), ": worst relative difference ", s, " (sgd), ", a, " (adam), ", c, " (clipped)");
  CHECK(s < test::sgd_tolerance);
  CHECK(a < test::adam_tolerance);
  CHECK(c < test::sgd_tolerance);
}

// Communication events a device recorded in its last traced step.
std::size_t communications(const trace_recorder& t) {
  std::size_t n = 0;
  for (const trace_event& e : t.events()) n += e.row == trace_row::communication;
  return n;
}
}  // namespace

TEST_CASE("accumulating 3 chunks equals one step on the whole batch, under every policy") {
  check_accumulated<single_device>();
  check_accumulated<replicate<2>>();
  check_accumulated<replicate<2, shard_optimizer>>();
  check_accumulated<pipeline<2, microbatches<2>>>();
  check_accumulated<partition<2>>();
  check_accumulated<replicate<2, pipeline<2, microbatches<2>>>>();
  check_accumulated<replicate<2, partition<2>>>();
}

TEST_CASE("the gradients are synchronised once per accumulated step, not once per chunk") {
  const test::batch_set<net> b(24, 5);
  sgd opt{.lr = 0.1f};
  auto once = place<replicate<2>>(net, host_devices(2), {.max_batch = 24});
  once.enable_trace();
  once.train_step(b.xs(), b.ys(), cross_entropy, opt);
  auto chunked = place<replicate<2>>(net, host_devices(2), {.max_batch = 8});
  chunked.enable_trace();
  chunked.accumulate_step(b.xs(), b.ys(), cross_entropy, opt, 3);
  CHECK(communications(once.trace()) > 0);
  CHECK(communications(chunked.trace()) == communications(once.trace()));
  CHECK(std::ranges::equal(chunked.parameters(0), chunked.parameters(1)));  // the replicas agree
}

TEST_CASE("accumulate_step refuses a misuse before any chunk runs") {
  auto m = place<replicate<2>>(net, host_devices(2), {.max_batch = 8});
  const auto before = m.gather_parameters();
  const test::batch_set<net> b(24, 5);
  sgd opt{.lr = 0.1f};
  CHECK_THROWS_WITH_AS(m.accumulate_step(b.xs(), b.ys(), cross_entropy, opt, 0),
                       doctest::Contains("plait: accumulate_step is given 0 chunks"), error);
  CHECK_THROWS_WITH_AS(m.accumulate_step(b.xs(), b.ys(), cross_entropy, opt, 2),
                       doctest::Contains("pass at least 3 chunks"), error);
  const test::batch_set<net> small(5, 5);
  CHECK_THROWS_WITH_AS(m.accumulate_step(small.xs(), small.ys(), cross_entropy, opt, 3),
                       doctest::Contains("chunk 2 has 1 samples"), error);
  CHECK_THROWS_WITH_AS(m.accumulate_step(b.xs(), class_labels{b.y.data(), 23}, cross_entropy, opt, 3),
                       doctest::Contains("24 samples but 23 targets"), error);
  CHECK(m.gather_parameters() == before);
  CHECK(m.steps() == 0);
}

TEST_CASE("docs/training.md: an accumulated step") {
  const test::batch_set<net> big(64, 3);
  // [docs:accumulate]
  auto m = place<replicate<2>>(net, host_devices(2), {.max_batch = 16});  // activations for 16 samples
  adam opt{.lr = 1e-3f};
  // 64 samples in 4 chunks of 16: gradients summed per device, synchronised once, one update.
  const float loss = m.accumulate_step(big.xs(), big.ys(), cross_entropy, opt, 4);
  // [/docs:accumulate]
  CHECK(std::isfinite(loss));
  CHECK(m.steps() == 1);
}
