// runtime/train_step.hpp: model::train_step returns the mean loss over the batch of the parameters it
// started from, counts its steps, and refuses a batch too small for every replica's every
// micro-batch, or one whose shares do not divide into equal micro-batches, leaving the model as it was.
#include <doctest/doctest.h>

#include <plait/plait.hpp>
#include <vector>

using namespace plait;

namespace {
constexpr auto net = input<5> >> linear<7> >> plait::tanh >> linear<3>;

struct batch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit batch(std::size_t n) : x(n * 5), y(n) {
    splitmix64 rng(21);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(3));
  }
  samples<shape<5>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};
}  // namespace

TEST_CASE("the returned loss is the batch's mean loss before the update; steps count") {
  auto m = place(net, host_device(), {.max_batch = 16, .seed = 2});
  const batch b(12);
  auto opt = sgd{.lr = 0.5f};
  float first = 0;
  for (std::size_t s = 0; s < 3; ++s) {
    const double before = m.evaluate(b.xs(), b.ys(), cross_entropy).loss;
    const std::vector<float> params = m.gather_parameters();
    const float loss = m.train_step(b.xs(), b.ys(), cross_entropy, opt);
    CHECK(loss == doctest::Approx(before).epsilon(1e-6));
    if (s == 0) first = loss;
    CHECK(m.gather_parameters() != params);  // it did update
    CHECK(m.steps() == s + 1);
  }
  // Training lowered the loss.
  CHECK(m.evaluate(b.xs(), b.ys(), cross_entropy).loss < first);
}

TEST_CASE("the same loss under replicate<2> and pipeline<2, microbatches<2>> as on one device") {
  const batch b(8);
  auto one = place(net, host_device(), {.max_batch = 8, .seed = 4});
  auto two = place<replicate<2>>(net, host_devices(2), {.max_batch = 8, .seed = 4});
  auto pipe = place<pipeline<2, microbatches<2>>>(net, host_devices(2), {.max_batch = 8, .seed = 4});
  auto o1 = sgd{.lr = 0.1f}, o2 = o1, o3 = o1;
  const float l1 = one.train_step(b.xs(), b.ys(), cross_entropy, o1);
  CHECK(two.train_step(b.xs(), b.ys(), cross_entropy, o2) == doctest::Approx(l1).epsilon(1e-6));
  CHECK(pipe.train_step(b.xs(), b.ys(), cross_entropy, o3) == doctest::Approx(l1).epsilon(1e-6));
}

TEST_CASE("a batch smaller than replicas x micro-batches, or with shares that do not divide, is refused") {
  auto m = place<replicate<2, pipeline<2, microbatches<2>>>>(net, host_devices(4), {.max_batch = 16});
  const std::vector<float> before = m.gather_parameters();
  auto opt = sgd{};
  const batch three(3), six(6);
  CHECK_THROWS_WITH_AS(
      m.train_step(three.xs(), three.ys(), cross_entropy, opt),
      doctest::Contains("plait: train_step is given a batch of 3 samples for 2 replica(s) of 2 micro-batch(es). "),
      error);
  CHECK_THROWS_WITH_AS(m.train_step(three.xs(), three.ys(), cross_entropy, opt),
                       doctest::Contains("Fix: pass batches of at least 4 samples"), error);
  // 6 samples: shares of 3 per replica, which 2 micro-batches do not divide.
  CHECK_THROWS_WITH_AS(
      m.train_step(six.xs(), six.ys(), cross_entropy, opt),
      doctest::Contains("train_step is given a batch of 6 samples, whose share does not divide into 2 micro-batches"),
      error);
  CHECK(m.gather_parameters() == before);
  CHECK(m.steps() == 0);
  const batch eight(8);
  CHECK_NOTHROW(m.train_step(eight.xs(), eight.ys(), cross_entropy, opt));
  CHECK(m.steps() == 1);
}

TEST_CASE(
    "in one process, a step given process_rows{.global_batch = n} takes the whole batch, and refuses any other count") {
  auto a = place<replicate<2>>(net, host_devices(2), {.max_batch = 16, .seed = 4});
  auto b = place<replicate<2>>(net, host_devices(2), {.max_batch = 16, .seed = 4});
  CHECK(a.process_replicas().first == 0);
  CHECK(a.process_replicas().last == 2);
  CHECK(a.rows_of_process(13).begin == 0);
  CHECK(a.rows_of_process(13).end == 13);
  const batch whole(12);
  auto o1 = sgd{.lr = 0.1f}, o2 = o1;
  CHECK(a.train_step(whole.xs(), whole.ys(), cross_entropy, o1) ==
        b.train_step(whole.xs(), whole.ys(), cross_entropy, o2, process_rows{.global_batch = 12}));
  CHECK(a.gather_parameters() == b.gather_parameters());
  const std::vector<float> before = b.gather_parameters();
  CHECK_THROWS_WITH_AS(b.train_step(whole.xs(), whole.ys(), cross_entropy, o2, process_rows{.global_batch = 14}),
                       "plait: train_step is given 12 samples and 12 targets as this process's rows of a global batch "
                       "of 14. this process (rank 0 of 1) holds replicas [0, 2) of 2, whose rows of the global batch "
                       "are 14 (rows 0 to 14). Fix: pass exactly those rows: a loader over model.sampler(...) with "
                       "replicas = model.process_replicas() gathers them.",
                       error);
  CHECK_THROWS_WITH_AS(b.train_step(whole.xs(), whole.ys(), cross_entropy, o2, process_rows{.global_batch = 40}),
                       doctest::Contains("more than max_batch = 16"), error);
  CHECK(b.gather_parameters() == before);
  CHECK(b.steps() == 1);
}
