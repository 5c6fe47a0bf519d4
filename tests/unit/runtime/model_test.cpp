#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <plait/plait.hpp>
#include <vector>

using namespace plait;

namespace {
// Two Gaussian-ish blobs per class in 6 dimensions: class c has mean +2 on feature c.
struct blobs {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit blobs(std::size_t n, std::uint64_t seed = 3) : x(n * 6), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      y[i] = std::int32_t(rng.below(3));
      for (std::size_t j = 0; j < 6; ++j) x[i * 6 + j] = rng.uniform(-1, 1) + (std::size_t(y[i]) == j ? 2.0f : 0.0f);
    }
  }
  samples<shape<6>> xs(std::size_t at = 0, std::size_t n = ~std::size_t{0}) const {
    return {x.data() + at * 6, std::min(n, y.size() - at)};
  }
  class_labels ys(std::size_t at = 0, std::size_t n = ~std::size_t{0}) const {
    return {y.data() + at, std::min(n, y.size() - at)};
  }
};
constexpr auto mlp = input<6> >> linear<16> >> relu >> linear<3>;
}  // namespace

TEST_CASE_TEMPLATE("a single-device model learns a separable problem", System, sequential, openmp) {
  const blobs train(512), test(256, 99);
  auto m = place(mlp, host_device<System>(2), {.max_batch = 64, .seed = 5});
  const auto before = m.evaluate(test.xs(), test.ys(), cross_entropy);
  auto opt = adam{.lr = 0.01f};
  float last = 0;
  for (int epoch = 0; epoch < 5; ++epoch)
    for (std::size_t at = 0; at < 512; at += 64)
      last = m.train_step(train.xs(at, 64), train.ys(at, 64), cross_entropy, opt);
  const auto after = m.evaluate(test.xs(), test.ys(), cross_entropy);
  CHECK(after.loss < before.loss / 2);
  CHECK(after.accuracy > 0.95);
  CHECK(last < 0.3f);
  CHECK(m.steps() == 40);
}

TEST_CASE("fusing relu into linear changes no number") {
  using unfused_graph = chain<shape<6>, linear_t<16>, relu_t, linear_t<3>>;
  auto fused = place(mlp, host_device(), {.max_batch = 32});
  auto plain = place(unfused_graph{}, host_device(), {.max_batch = 32});
  static_assert(decltype(fused)::layer_count == 2 && decltype(plain)::layer_count == 3);
  auto f0 = fused.layer_parameters<0>(), f1 = fused.layer_parameters<1>();
  std::copy(f0.begin(), f0.end(), plain.layer_parameters<0>().begin());
  std::copy(f1.begin(), f1.end(), plain.layer_parameters<2>().begin());
  const blobs data(32);
  auto o1 = sgd{.lr = 0.1f, .momentum = 0.9f}, o2 = o1;
  for (int s = 0; s < 4; ++s)
    CHECK(fused.train_step(data.xs(), data.ys(), cross_entropy, o1) ==
          plain.train_step(data.xs(), data.ys(), cross_entropy, o2));
  auto p2 = plain.layer_parameters<2>();
  CHECK(std::equal(f0.begin(), f0.end(), plain.layer_parameters<0>().begin()));
  CHECK(std::equal(f1.begin(), f1.end(), p2.begin()));
}

TEST_CASE("predict is the forward pass: x W^T + b through relu") {
  constexpr auto net = input<2> >> linear<2> >> relu;
  auto m = place(net, host_device(), {.max_batch = 4});
  auto p = m.layer_parameters<0>();
  const float w[] = {1, -1, 2, 0.5f, /* b */ 0, -3};
  std::copy(std::begin(w), std::end(w), p.begin());
  const std::vector<float> x{3, 1, -2, 4};
  auto y = m.predict({x.data(), 2});
  CHECK(std::vector<float>(y.data, y.data + 4) == std::vector<float>{2, 3.5f, 0, 0});
}

TEST_CASE("mse regression finds a known linear map") {
  constexpr auto net = input<3> >> linear<1>;
  auto m = place(net, host_device(), {.max_batch = 64});
  std::vector<float> x(64 * 3), t(64);
  splitmix64 rng(1);
  for (std::size_t i = 0; i < 64; ++i) {
    for (std::size_t j = 0; j < 3; ++j) x[i * 3 + j] = rng.uniform(-1, 1);
    t[i] = 2 * x[i * 3] - x[i * 3 + 1] + 0.5f * x[i * 3 + 2] + 0.25f;
  }
  auto opt = sgd{.lr = 0.1f, .momentum = 0.9f};
  for (int s = 0; s < 300; ++s)
    m.train_step(samples<shape<3>>{x.data(), 64}, samples<shape<1>>{t.data(), 64}, mse, opt);
  auto p = m.layer_parameters<0>();
  CHECK(p[0] == doctest::Approx(2).epsilon(1e-3));
  CHECK(p[1] == doctest::Approx(-1).epsilon(1e-3));
  CHECK(p[2] == doctest::Approx(0.5).epsilon(1e-3));
  CHECK(p[3] == doctest::Approx(0.25).epsilon(1e-3));
}

TEST_CASE("misuse at run time is a plait error and leaves the parameters untouched") {
  auto m = place(mlp, host_device(), {.max_batch = 8});
  const blobs data(16);
  const std::vector<float> before(m.parameters().begin(), m.parameters().end());
  auto opt = sgd{};
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 16), data.ys(0, 16), cross_entropy, opt),
                       doctest::Contains("more than max_batch = 8"), plait::error);
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 0), data.ys(0, 0), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given an empty batch"), plait::error);
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 4), data.ys(0, 3), cross_entropy, opt),
                       doctest::Contains("4 samples but 3 targets"), plait::error);
  CHECK_THROWS_WITH_AS(m.train_step(samples<shape<6>>{nullptr, 3}, data.ys(0, 3), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given 3 samples at a null pointer"), plait::error);
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 3), class_labels{nullptr, 3}, cross_entropy, opt),
                       doctest::Contains("plait: train_step is given 3 targets at a null pointer"), plait::error);
  std::vector<std::int32_t> bad{0, 1, 7};
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 3), class_labels{bad.data(), 3}, cross_entropy, opt),
                       doctest::Contains("label 7 of sample 2"), plait::error);
  // An optimizer that would train silently wrong, at every step entry, before anything changes.
  auto nan_rate = sgd{.lr = std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 4), data.ys(0, 4), cross_entropy, nan_rate),
                       doctest::Contains("plait: train_step is given sgd with lr = nan. lr must be finite and at "
                                         "least 0"),
                       plait::error);
  auto climbing = adam{.lr = -1e-3f};
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 4), data.ys(0, 4), cross_entropy, climbing),
                       doctest::Contains("plait: train_step is given adam with lr = -0.001"), plait::error);
  auto beta_one = adamw{.beta2 = 1.0f};
  CHECK_THROWS_WITH_AS(m.accumulate_step(data.xs(0, 8), data.ys(0, 8), cross_entropy, beta_one, 2),
                       doctest::Contains("plait: accumulate_step is given adamw with beta2 = 1"), plait::error);
  auto lookahead = sgd{.lr = 0.1f, .nesterov = true};
  CHECK_THROWS_WITH_AS(m.pc_step(data.xs(0, 4), data.ys(0, 4), cross_entropy, lookahead, pc_options{}),
                       doctest::Contains("plait: pc_step is given sgd with nesterov = true and momentum = 0"),
                       plait::error);
  CHECK(std::equal(before.begin(), before.end(), m.parameters().begin()));
  CHECK(m.steps() == 0);
  CHECK_THROWS_WITH_AS(place(mlp, host_device(), {.max_batch = 0}), doctest::Contains("max_batch is 0"), plait::error);
  CHECK_THROWS_AS(host_device(0), plait::error);
  CHECK_THROWS_WITH_AS(place(mlp, host_device(), {.cuda_graph = true}),
                       doctest::Contains("plait: place_options.cuda_graph is set for a model on host devices"),
                       plait::error);
}

TEST_CASE("evaluate counts arg-max hits over several chunks") {
  constexpr auto net = input<2> >> linear<2>;
  auto m = place(net, host_device(), {.max_batch = 2});
  auto p = m.layer_parameters<0>();
  const float w[] = {1, 0, 0, 1, 0, 0};  // identity: the larger feature wins
  std::copy(std::begin(w), std::end(w), p.begin());
  const std::vector<float> x{1, 0, 0, 1, 2, 3, 5, 4, 1, 9};
  const std::vector<std::int32_t> y{0, 1, 0, 0, 1};  // the third is wrong
  const auto e = m.evaluate(samples<shape<2>>{x.data(), 5}, class_labels{y.data(), 5}, cross_entropy);
  CHECK(e.count == 5);
  CHECK(e.accuracy == doctest::Approx(0.8));
}

TEST_CASE("the same seed gives the same model; another seed another") {
  auto a = place(mlp, host_device(), {.seed = 1});
  auto b = place(mlp, host_device(), {.seed = 1});
  auto c = place(mlp, host_device(), {.seed = 2});
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  CHECK(!std::equal(a.parameters().begin(), a.parameters().end(), c.parameters().begin()));
}

TEST_CASE("every public call of the model refuses misuse with a plait message") {
  auto m = place<replicate<2>>(mlp, host_devices(2), {.max_batch = 8});
  const blobs data(8);
  auto opt = sgd{.lr = 0.1f};
  // train_step: empty, too large, unequal targets, too small for the policy's shares
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 0), data.ys(0, 0), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given an empty batch"), plait::error);
  const blobs big(9);
  CHECK_THROWS_WITH_AS(m.train_step(big.xs(), big.ys(), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given a batch of 9 samples, more than max_batch = 8"),
                       plait::error);
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(), data.ys(0, 4), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given 8 samples but 4 targets"), plait::error);
  CHECK_THROWS_WITH_AS(m.train_step(data.xs(0, 1), data.ys(0, 1), cross_entropy, opt),
                       doctest::Contains("plait: train_step is given a batch of 1 samples for 2 replica(s)"),
                       plait::error);
  // parameters, gradients, the planned figures: a device this process does not have
  CHECK_THROWS_WITH_AS(m.parameters(2), doctest::Contains("plait: parameters(2)"), plait::error);
  CHECK_THROWS_WITH_AS(m.gradients(2), doctest::Contains("plait: gradients(2)"), plait::error);
  CHECK_THROWS_WITH_AS(m.optimizer_bytes(3), doctest::Contains("plait: optimizer_bytes(3)"), plait::error);
  CHECK_THROWS_WITH_AS(m.activation_bytes(7), doctest::Contains("plait: activation_bytes(7)"), plait::error);
  // the sampler: its batch must hold a sample per replica
  CHECK_THROWS_WITH_AS(m.sampler(100, {.global_batch = 1}), doctest::Contains("plait: "), plait::error);
  // traces: a recorder of no events, a file that cannot be written
  CHECK_THROWS_WITH_AS(m.enable_trace(0), doctest::Contains("plait: trace_recorder capacity_per_device is 0"),
                       plait::error);
  m.enable_trace();
  CHECK_THROWS_WITH_AS(m.write_trace("/nonexistent-folder/trace.json"),
                       doctest::Contains("plait: cannot open trace file"), plait::error);
  // place: fewer devices than the policy needs, a max_batch below one sample per replica
  CHECK_THROWS_WITH_AS(place<replicate<3>>(mlp, host_devices(2)), doctest::Contains("plait: replicate needs 3 devices"),
                       plait::error);
  CHECK_THROWS_WITH_AS(place<replicate<2>>(mlp, host_devices(2), {.max_batch = 1}),
                       doctest::Contains("plait: place_options.max_batch is 1"), plait::error);
}
