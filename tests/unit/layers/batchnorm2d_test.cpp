#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/batchnorm2d.hpp>
#include <plait/layers/dropout.hpp>
#include <plait/runtime/replica_sums.hpp>
#include <thread>

using namespace plait;
using test::host_contexts;

namespace {
// What PyTorch computes, written out: statistics of channel c over (B, H, W).
struct channel_stats {
  double mean = 0, var = 0, unbiased = 0;
};
channel_stats naive_stats(const std::vector<double>& x, std::size_t batch, std::size_t C, std::size_t HW,
                          std::size_t c) {
  channel_stats s;
  const double n = double(batch * HW);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t i = 0; i < HW; ++i) s.mean += x[(b * C + c) * HW + i] / n;
  double ss = 0;
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t i = 0; i < HW; ++i) ss += std::pow(x[(b * C + c) * HW + i] - s.mean, 2);
  s.var = ss / n;
  s.unbiased = ss / (n - 1);
  return s;
}
}  // namespace

static_assert(BoundLayer<batchnorm2d_t<>::bound<shape<3, 4, 5>>>);
static_assert(batchnorm2d_t<>::bound<shape<3, 4, 5>>::param_count == 6);
static_assert(batchnorm2d_t<>::bound<shape<3, 4, 5>>::state_count == 6);  // running mean and variance only
static_assert(batchnorm2d_t<>::momentum == 0.1 && batchnorm2d_t<>::eps == 1e-5);

TEST_CASE_TEMPLATE_DEFINE("batchnorm2d backward matches finite differences in training mode", Ctx, bn_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("3 channels of 4x5, batch 3") {
    auto r = test::gradcheck<batchnorm2d_t<>::bound<shape<3, 4, 5>>>(ctx, 3);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("1x1 images, statistics over the batch only") {
    auto r = test::gradcheck<batchnorm2d_t<std::ratio<1, 2>, std::ratio<1, 1000>>::bound<shape<6, 1, 1>>>(ctx, 5, 3);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("one sample, statistics over the pixels only") {
    auto r = test::gradcheck<batchnorm2d_t<>::bound<shape<2, 3, 3>>>(ctx, 1, 5);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
}
TEST_CASE_TEMPLATE_APPLY(bn_grad, host_contexts);

TEST_CASE_TEMPLATE("batchnorm2d forward normalises each channel over batch and pixels", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = batchnorm2d_t<>::bound<shape<3, 2, 4>>;
  constexpr std::size_t C = 3, HW = 8, batch = 4;
  Ctx ctx{};
  ctx.threads = 2;
  auto p = test::random_vector(B::param_count, 1);
  auto x = test::random_vector(batch * C * HW, 2, -3, 5);
  std::vector<double> y(x.size());
  auto state = test::initial_state<B>();
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, batch, true, state.data()});
  for (std::size_t c = 0; c < C; ++c) {
    const auto s = naive_stats(x, batch, C, HW, c);
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t i = 0; i < HW; ++i) {
        const std::size_t at = (b * C + c) * HW + i;
        CHECK(y[at] == doctest::Approx(p[c] * (x[at] - s.mean) / std::sqrt(s.var + 1e-5) + p[C + c]).epsilon(1e-12));
      }
  }
}

TEST_CASE("batchnorm2d init: gamma 1, beta 0, running mean 0, running var 1") {
  using B = batchnorm2d_t<>::bound<shape<2, 3, 3>>;
  std::vector<float> p(B::param_count, 7), s(B::state_count, 7);
  splitmix64 rng(1);
  B::init(p.data(), rng);
  B::init_state(s.data());
  CHECK(p == std::vector<float>{1, 1, 0, 0});
  CHECK(std::vector<float>(s.begin(), s.begin() + 4) == std::vector<float>{0, 0, 1, 1});
}

TEST_CASE("running statistics follow PyTorch's update with the unbiased variance; evaluation uses them") {
  using B = batchnorm2d_t<std::ratio<1, 5>>::bound<shape<2, 3, 3>>;
  constexpr std::size_t C = 2, HW = 9, batch = 5;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  auto p = test::random_vector(B::param_count, 3);
  auto state = test::initial_state<B>();
  std::vector<double> rm(C, 0.0), rv(C, 1.0), y(batch * C * HW);
  const double m = 0.2;
  for (std::uint64_t k = 0; k < 4; ++k) {
    auto x = test::random_vector(batch * C * HW, 10 + k, -1 + double(k), 2 + 2 * double(k));
    B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, batch, true, state.data()});
    for (std::size_t c = 0; c < C; ++c) {
      const auto s = naive_stats(x, batch, C, HW, c);
      rm[c] = (1 - m) * rm[c] + m * s.mean;
      rv[c] = (1 - m) * rv[c] + m * s.unbiased;
    }
  }
  for (std::size_t c = 0; c < C; ++c) {
    CHECK(state[c] == doctest::Approx(rm[c]).epsilon(1e-12));
    CHECK(state[C + c] == doctest::Approx(rv[c]).epsilon(1e-12));
  }
  // Evaluation: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta; nothing moves.
  const auto before = state;
  auto x = test::random_vector(batch * C * HW, 50);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, batch, false, state.data()});
  CHECK(state == before);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < HW; ++i) {
        const std::size_t at = (b * C + c) * HW + i;
        CHECK(y[at] == doctest::Approx(p[c] * (x[at] - rm[c]) / std::sqrt(rv[c] + 1e-5) + p[C + c]).epsilon(1e-12));
      }
  // One sample in evaluation mode is normalised as it is in a batch: no batch statistics.
  std::vector<double> y1(C * HW);
  B::forward(ctx, forward_args<double>{p.data(), x.data() + C * HW, y1.data(), nullptr, 1, false, state.data()});
  CHECK(std::equal(y1.begin(), y1.end(), y.begin() + C * HW));
}

TEST_CASE_TEMPLATE("batchnorm2d backward may write dx over dy, and accumulates", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = batchnorm2d_t<>::bound<shape<3, 2, 2>>;
  constexpr std::size_t n = 4 * B::in_shape::size;
  Ctx ctx{};
  ctx.threads = 2;
  auto p = test::random_vector(B::param_count, 1);
  auto x = test::random_vector(n, 2);
  std::vector<double> y(n), dx(n), dp(B::param_count), dp2(B::param_count);
  auto state = test::initial_state<B>();
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, 4, true, state.data()});
  auto dy = test::random_vector(n, 3);
  auto inplace = dy;
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, dy.data(), dx.data(), dp.data(), 4,
                                         false, state.data()});
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, inplace.data(), inplace.data(),
                                         dp2.data(), 4, false, state.data()});
  CHECK(inplace == dx);
  CHECK(dp2 == dp);
  auto dy2 = test::random_vector(n, 3);
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, dy2.data(), nullptr, dp2.data(), 4,
                                         true, state.data()});
  for (std::size_t i = 0; i < dp.size(); ++i) CHECK(dp2[i] == doctest::Approx(2 * dp[i]));
  // Backward recomputes the statistics from its own x: another forward in between (a pipeline's
  // next micro-batch) changes nothing.
  auto other = test::random_vector(2 * B::in_shape::size, 9, 3, 8);
  std::vector<double> other_y(other.size()), dx3(n), dp3(B::param_count);
  B::forward(ctx, forward_args<double>{p.data(), other.data(), other_y.data(), nullptr, 2, true, state.data()});
  auto dy3 = test::random_vector(n, 3);
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, dy3.data(), dx3.data(), dp3.data(), 4,
                                         false, state.data()});
  CHECK(dx3 == dx);
  CHECK(dp3 == dp);
  // The normalised output does not move when the whole input shifts: dx sums to 0 per channel.
  for (std::size_t c = 0; c < 3; ++c) {
    double s = 0;
    for (std::size_t b = 0; b < 4; ++b)
      for (std::size_t i = 0; i < 4; ++i) s += dx[(b * 3 + c) * 4 + i];
    CHECK(std::abs(s) < 1e-12);
  }
}

namespace {
// Class c has a bright channel-c square; the channels also carry an offset and scale that
// batchnorm has to remove.
struct images {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit images(std::size_t n, std::uint64_t seed) : x(n * 32), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      y[i] = std::int32_t(rng.below(3));
      for (std::size_t j = 0; j < 32; ++j) {
        const std::size_t c = j / 16, pixel = j % 16;
        const bool lit = (y[i] == 2) ? pixel < 8 : std::size_t(y[i]) == c;
        x[i * 32 + j] = 50.0f + 10.0f * (rng.uniform(-1, 1) + (lit ? 1.5f : 0.0f));
      }
    }
  }
  samples<shape<2, 4, 4>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * 32, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
};
constexpr auto net = input<2, 4, 4> >> batchnorm2d >> flatten >> linear<16> >> relu >> dropout<0.2f> >> linear<3>;
}  // namespace

TEST_CASE_TEMPLATE("a model with batchnorm2d and dropout learns; predict is deterministic", System, sequential,
                   openmp) {
  const images train(256, 1), test(128, 2);
  auto m = place(net, host_device<System>(2), {.max_batch = 128, .seed = 4});
  const auto before = m.evaluate(test.xs(0, 128), test.ys(0, 128), cross_entropy);
  auto opt = adam{.lr = 0.01f};
  float first = 0, last = 0;
  for (int epoch = 0; epoch < 6; ++epoch)
    for (std::size_t at = 0; at < 256; at += 32) {
      last = m.train_step(train.xs(at, 32), train.ys(at, 32), cross_entropy, opt);
      if (epoch == 0 && at == 0) first = last;
    }
  const auto after = m.evaluate(test.xs(0, 128), test.ys(0, 128), cross_entropy);
  CHECK(last < first / 2);
  CHECK(after.loss < before.loss / 2);
  CHECK(after.accuracy > 0.9);
  // Evaluation mode: running statistics and no dropout, so the same input gives the same output.
  const auto y1 = m.predict(test.xs(0, 8));
  const std::vector<float> a(y1.data, y1.data + 8 * 3);
  const auto y2 = m.predict(test.xs(0, 8));
  CHECK(std::equal(a.begin(), a.end(), y2.data));
  // ... and a sample's output does not depend on the other samples of the call (batch statistics
  // would move it by far more; the BLAS may round a product of 1 row and one of 8 differently, as
  // OpenBLAS's Haswell/Zen kernels do).
  const auto y3 = m.predict(test.xs(4, 1));
  for (std::size_t k = 0; k < 3; ++k) CHECK(y3.data[k] == doctest::Approx(a[4 * 3 + k]).epsilon(1e-5));
}

namespace {
constexpr auto small = input<2, 4, 4> >> batchnorm2d >> flatten >> linear<8> >> relu >> linear<3>;
double max_relative_difference(std::span<const float> a, std::span<const float> b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(0.05, std::abs(double(b[i]))));
  return worst;
}
}  // namespace

// GPipe runs every micro-batch's forward before any backward: each micro-batch is normalised with
// its own statistics, and backward must use those, not the last forward's. replicate<4> normalises
// the same four shares (one per replica) with their own statistics, so the two train alike, up to
// float reassociation of the gradient sums.
TEST_CASE_TEMPLATE("batchnorm2d under a pipeline's micro-batches trains as under replicate", S, gpipe, one_f_one_b) {
  auto piped = place<pipeline<2, microbatches<4>, S>>(small, host_devices(2), {.max_batch = 32, .seed = 6});
  auto replicas = place<replicate<4>>(small, host_devices(4), {.max_batch = 32, .seed = 6});
  const images data(32 * 4, 8);
  auto o1 = sgd{.lr = 0.05f, .momentum = 0.9f}, o2 = o1;
  for (std::size_t at = 0; at < 128; at += 32) {
    const float l1 = piped.train_step(data.xs(at, 32), data.ys(at, 32), cross_entropy, o1);
    CHECK(replicas.train_step(data.xs(at, 32), data.ys(at, 32), cross_entropy, o2) ==
          doctest::Approx(l1).epsilon(1e-5));
  }
  const std::span<const float> p0 = piped.parameters(0), p1 = piped.parameters(1), r = replicas.parameters(0);
  std::vector<float> joined(p0.begin(), p0.end());
  joined.insert(joined.end(), p1.begin(), p1.end());
  REQUIRE(joined.size() == r.size());
  CHECK(max_relative_difference(joined, r) < 2e-5);
}

// ---- synchronised statistics (sync_batchnorm2d) ------------------------------------------------

using sync_bn = batchnorm2d_t<std::ratio<1, 10>, std::ratio<1, 100000>, batch_statistics::synchronised>;
static_assert(std::is_same_v<std::remove_const_t<decltype(sync_batchnorm2d)>, sync_bn>);
static_assert(sync_bn::bound<shape<3, 4, 5>>::replica_sum_count == 13);
static_assert(batchnorm2d_t<>::bound<shape<3, 4, 5>>::replica_sum_count == 0);
static_assert(
    graph_layout<std::remove_const_t<decltype(input<3, 4, 4> >> sync_batchnorm2d >> flatten)>>::replica_sum_size == 13);

TEST_CASE_TEMPLATE("sync_batchnorm2d on one replica: backward matches finite differences", Ctx,
                   host_context<sequential>, host_context<openmp>) {
  Ctx ctx{};
  ctx.threads = 2;
  auto r = test::gradcheck<sync_bn::bound<shape<3, 4, 5>>>(ctx, 3);
  CHECK(r.max_param_error < 1e-7);
  CHECK(r.max_input_error < 1e-7);
}

// Two replicas, each with half of a batch, on two threads: their outputs, input gradients and
// running statistics are those of one call on the whole batch; their parameter gradients add up to it.
TEST_CASE("sync_batchnorm2d across replicas normalises with the whole batch's statistics") {
  using B = sync_bn::bound<shape<3, 2, 4>>;
  using P = batchnorm2d_t<>::bound<shape<3, 2, 4>>;
  constexpr std::size_t C = 3, HW = 8, S = C * HW, batch = 5, first = 2;  // shares of 2 and 3 samples
  host_context<sequential> ctx{};
  splitmix64 rng(17);
  std::vector<double> p(B::param_count), x(batch * S), dy(batch * S);
  for (auto& v : p) v = rng.uniform(0.5, 1.5);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 3.0 * double(i % C) + rng.uniform(-1, 1);
  for (auto& v : dy) v = rng.uniform(-1, 1);

  // The whole batch on one replica, with the per-replica layer (two-pass statistics).
  std::vector<double> y(batch * S), dx(batch * S), dp(B::param_count);
  auto state = test::initial_state<P>();
  P::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, batch, true, state.data()});
  auto g = dy;
  P::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, g.data(), dx.data(), dp.data(), batch,
                                         false, state.data()});

  replica_sums sums(2, B::replica_sum_count);
  std::vector<double> ys(batch * S), dxs(batch * S), dps(2 * B::param_count);
  std::vector<std::vector<double>> states{test::initial_state<B>(), test::initial_state<B>()};
  auto replica = [&](std::size_t r) {
    const std::size_t at = r == 0 ? 0 : first, n = r == 0 ? first : batch - first;
    forward_args<double> f{p.data(), x.data() + at * S, ys.data() + at * S, nullptr, n, true, states[r].data()};
    f.replicas = sums.of(r);
    B::forward(ctx, f);
    std::vector<double> gr(dy.begin() + std::ptrdiff_t(at * S), dy.begin() + std::ptrdiff_t((at + n) * S));
    backward_args<double> b{
        p.data(),        f.x, f.y, nullptr, gr.data(), dxs.data() + at * S, dps.data() + r * B::param_count, n, false,
        states[r].data()};
    b.replicas = sums.of(r);
    B::backward(ctx, b);
  };
  std::thread other(replica, 1);
  replica(0);
  other.join();

  for (std::size_t i = 0; i < y.size(); ++i) {
    CHECK(ys[i] == doctest::Approx(y[i]).epsilon(1e-10));
    CHECK(dxs[i] == doctest::Approx(dx[i]).epsilon(1e-9).scale(1e-6));
  }
  for (std::size_t i = 0; i < B::param_count; ++i)
    CHECK(dps[i] + dps[B::param_count + i] == doctest::Approx(dp[i]).epsilon(1e-10).scale(1e-8));
  CHECK(states[0] == states[1]);  // bitwise: every replica summed the same slots in the same order
  for (std::size_t i = 0; i < state.size(); ++i) CHECK(states[0][i] == doctest::Approx(state[i]).epsilon(1e-12));
}

namespace {
template <class Model>
std::vector<float> train_four_steps(Model& m, const images& data) {
  auto opt = sgd{.lr = 0.05f, .momentum = 0.9f};
  for (std::size_t at = 0; at < 4 * 30; at += 30) m.train_step(data.xs(at, 30), data.ys(at, 30), cross_entropy, opt);
  return m.gather_parameters();
}
// [docs:sync_bn]
constexpr auto synced = input<2, 4, 4> >> sync_batchnorm2d >> flatten >> linear<8> >> relu >> linear<3>;
// [/docs:sync_bn]
}  // namespace

// replicate<N> with synchronised statistics trains as one device does on the same batches (30 is
// split 15/15 and 10/10/10 and, for 4, unevenly 8/8/7/7); with per-replica statistics it does not,
// which is what makes the comparison a test.
TEST_CASE("sync_batchnorm2d under replicate<N> equals one device; per-replica batchnorm does not") {
  const images data(4 * 30, 9);
  auto one = place(synced, host_device(), {.max_batch = 30, .seed = 3});
  const auto expected = train_four_steps(one, data);
  const auto eval_one = one.evaluate(data.xs(0, 60), data.ys(0, 60), cross_entropy);

  auto two = place<replicate<2>>(synced, host_devices(2), {.max_batch = 30, .seed = 3});
  auto three = place<replicate<3>>(synced, host_devices(3), {.max_batch = 30, .seed = 3});
  auto four = place<replicate<4>>(synced, host_devices(4), {.max_batch = 30, .seed = 3});
  CHECK(max_relative_difference(train_four_steps(two, data), expected) < 1e-4);
  CHECK(max_relative_difference(train_four_steps(three, data), expected) < 1e-4);
  CHECK(max_relative_difference(train_four_steps(four, data), expected) < 1e-4);
  // Running statistics: evaluation (which uses device 0's) gives the same loss as on one device.
  CHECK(four.evaluate(data.xs(0, 60), data.ys(0, 60), cross_entropy).loss ==
        doctest::Approx(eval_one.loss).epsilon(1e-4));

  auto unsynced = place<replicate<4>>(small, host_devices(4), {.max_batch = 30, .seed = 3});
  auto unsynced_one = place(small, host_device(), {.max_batch = 30, .seed = 3});
  CHECK(max_relative_difference(train_four_steps(unsynced, data), train_four_steps(unsynced_one, data)) > 1e-3);
}
