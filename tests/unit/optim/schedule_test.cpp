// Learning-rate schedules (optim/schedule.hpp): each schedule's values, the rate readable, and a
// scheduled optimizer trains exactly as one whose rate is set by hand, under any policy.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <plait/plait.hpp>
#include <vector>

#include "../policy/equivalence.hpp"

using namespace plait;

TEST_CASE("each schedule's rates") {
  CHECK(constant_lr{.lr = 0.5f}(0) == 0.5f);
  CHECK(constant_lr{.lr = 0.5f}(1000) == 0.5f);
  const linear_warmup w{.lr = 1.0f, .warmup_steps = 4};
  CHECK(w(0) == 0.25f);
  CHECK(w(1) == 0.5f);
  CHECK(w(3) == 1.0f);
  CHECK(w(100) == 1.0f);
  const cosine_decay c{.lr = 1.0f, .total_steps = 10, .min_lr = 0.1f};
  CHECK(c(0) == 1.0f);
  CHECK(c(5) == doctest::Approx(0.55));
  CHECK(c(10) == doctest::Approx(0.1));
  CHECK(c(50) == doctest::Approx(0.1));  // held at min_lr after the end
  CHECK(c(3) > c(4));
  const step_decay s{.lr = 1.0f, .every = 3, .gamma = 0.5f};
  CHECK(s(0) == 1.0f);
  CHECK(s(2) == 1.0f);
  CHECK(s(3) == 0.5f);
  CHECK(s(7) == 0.25f);
  const auto wc = warmup_then(2, cosine_decay{.lr = 1.0f, .total_steps = 4});
  CHECK(wc(0) == 0.5f);
  CHECK(wc(1) == 1.0f);
  CHECK(wc(2) == 1.0f);
  CHECK(wc(4) == doctest::Approx(0.5));
  CHECK(wc(6) == doctest::Approx(0.0));
  static_assert(LrSchedule<constant_lr> && LrSchedule<decltype(wc)>);
  static_assert(!LrSchedule<int>);
}

TEST_CASE("scheduled: next() sets the rate for the coming step, lr() reads it, for every optimizer") {
  scheduled a(adam{}, step_decay{.lr = 0.1f, .every = 2, .gamma = 0.5f});
  CHECK(a.lr() == 0.1f);  // before the first step: the first step's
  CHECK(a.next().lr == 0.1f);
  CHECK(a.next().lr == 0.1f);
  CHECK(a.next().lr == 0.05f);
  CHECK(a.lr() == 0.05f);
  CHECK(a.steps() == 3);
  scheduled s(sgd{.momentum = 0.9f}, [](std::size_t step) { return 1.0f / float(step + 1); });  // the user's function
  s.next();
  CHECK(s.next().lr == 0.5f);
  CHECK(s.optimizer().momentum == 0.9f);  // the other settings kept
  scheduled w(adamw{.weight_decay = 0.1f}, linear_warmup{.lr = 1.0f, .warmup_steps = 2});
  CHECK(w.next().lr == 0.5f);
  CHECK(w.optimizer().weight_decay == 0.1f);
}

namespace {
constexpr auto net = input<8> >> linear<16> >> relu >> linear<4>;
}

TEST_CASE("a scheduled optimizer trains as one whose rate is set by hand, and under replicate as one device") {
  const auto schedule = warmup_then(2, cosine_decay{.lr = 0.05f, .total_steps = 4});
  auto by_hand = place(net, host_device(), {.max_batch = 16, .seed = 3});
  auto single = place(net, host_device(), {.max_batch = 16, .seed = 3});
  auto multi = place<replicate<2>>(net, host_devices(2), {.max_batch = 16, .seed = 3});
  adam hand{};
  scheduled o1(adam{}, schedule), o2(adam{}, schedule);
  std::vector<float> rates;
  for (std::size_t s = 0; s < 6; ++s) {
    const test::batch_set<net> b(16, 60 + s);
    hand.lr = schedule(s);
    by_hand.train_step(b.xs(), b.ys(), cross_entropy, hand);
    single.train_step(b.xs(), b.ys(), cross_entropy, o1.next());
    multi.train_step(b.xs(), b.ys(), cross_entropy, o2.next());
    rates.push_back(o1.lr());
  }
  CHECK(rates[0] == doctest::Approx(0.025));
  CHECK(rates[2] == doctest::Approx(0.05));
  CHECK(rates[5] < rates[3]);
  CHECK(single.gather_parameters() == by_hand.gather_parameters());
  CHECK(test::max_relative_difference(multi.gather_parameters(), single.gather_parameters()) < test::adam_tolerance);
}

TEST_CASE("docs/training.md: a warm-up then cosine decay") {
  const test::batch_set<net> batch(16, 1);
  const std::size_t steps = 10;
  auto m = place(net, host_device(), {.max_batch = 16});
  // [docs:schedule]
  scheduled opt(adam{}, warmup_then(2, cosine_decay{.lr = 1e-3f, .total_steps = steps - 2}));
  for (std::size_t s = 0; s < steps; ++s) {
    const float loss = m.train_step(batch.xs(), batch.ys(), cross_entropy, opt.next());
    std::printf("step %zu  lr %.2e  loss %.4f\n", s, opt.lr(), loss);
  }
  // [/docs:schedule]
  CHECK(opt.lr() == doctest::Approx(cosine_decay{.lr = 1e-3f, .total_steps = 8}(7)));
}
