#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/embedding.hpp>
#include <plait/layers/lstm.hpp>
#include <plait/layers/mean_pool.hpp>

using namespace plait;
using test::host_contexts;

TEST_CASE("lstm maps shape<T, I> to shape<T, H> with PyTorch's parameters") {
  using B = lstm_t<4>::bound<shape<5, 3>>;
  static_assert(std::is_same_v<B::out_shape, shape<5, 4>>);
  static_assert(B::param_count == 16 * 3 + 16 * 4 + 16 + 16);  // W_ih, W_hh, b_ih, b_hh
  static_assert(B::saved_count == 5 * (16 + 4 + 16) + 4);
  static_assert(std::is_same_v<output_shape_t<decltype(input<6, 2> >> lstm<8> >> lstm<3>)>, shape<6, 3>>);
}

TEST_CASE_TEMPLATE_DEFINE("lstm backward matches finite differences", Ctx, lstm_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("one step, I > H") {
    auto r = test::gradcheck<lstm_t<2>::bound<shape<1, 3>>>(ctx, 3);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("three steps, I < H") {
    auto r = test::gradcheck<lstm_t<4>::bound<shape<3, 2>>>(ctx, 3, 5);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("five steps, I > H, one sample") {
    auto r = test::gradcheck<lstm_t<3>::bound<shape<5, 5>>>(ctx, 1, 9);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("five steps, I < H, four samples") {
    auto r = test::gradcheck<lstm_t<5>::bound<shape<5, 2>>>(ctx, 4, 13);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
}
TEST_CASE_TEMPLATE_APPLY(lstm_grad, host_contexts);

TEST_CASE("lstm forward for T = 2, I = 1, H = 1 matches a hand computation") {
  using B = lstm_t<1>::bound<shape<2, 1>>;
  host_context<sequential> ctx{};
  //                       W_ih (i f g o)       W_hh (i f g o)          b_ih (i f g o)         b_hh (i f g o)
  const std::vector<double> p{0.5,       -0.25, 1.0,  0.75, /**/ 0.3, 0.6, -0.9, 0.2, /**/ 0.1, 0.2, 0.0, -0.1,
                              /**/ 0.05, 0.1,   -0.2, 0.3};
  const std::vector<double> x{2.0, -1.0};
  std::vector<double> y(2), saved(B::saved_count);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), 1});
  auto sig = [](double z) { return 1 / (1 + std::exp(-z)); };
  // Step 0: h = c = 0 before it.
  const double i0 = sig(0.5 * 2 + 0.1 + 0.05), f0 = sig(-0.25 * 2 + 0.2 + 0.1);
  const double g0 = std::tanh(1.0 * 2 + 0.0 - 0.2), o0 = sig(0.75 * 2 - 0.1 + 0.3);
  const double c0 = f0 * 0 + i0 * g0, h0 = o0 * std::tanh(c0);
  // Step 1: the recurrent weights see h0.
  const double i1 = sig(0.5 * -1 + 0.3 * h0 + 0.1 + 0.05), f1 = sig(-0.25 * -1 + 0.6 * h0 + 0.2 + 0.1);
  const double g1 = std::tanh(1.0 * -1 - 0.9 * h0 + 0.0 - 0.2), o1 = sig(0.75 * -1 + 0.2 * h0 - 0.1 + 0.3);
  const double c1 = f1 * c0 + i1 * g1, h1 = o1 * std::tanh(c1);
  CHECK(y[0] == doctest::Approx(h0).epsilon(1e-14));
  CHECK(y[1] == doctest::Approx(h1).epsilon(1e-14));
  // The same numbers from an independent evaluation (Python's math module).
  CHECK(y[0] == doctest::Approx(0.5211515955440247).epsilon(1e-13));
  CHECK(y[1] == doctest::Approx(0.033076390368246104).epsilon(1e-12));
}

TEST_CASE_TEMPLATE("each sample's output depends on that sample only (strided steps)", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = lstm_t<3>::bound<shape<4, 2>>;
  Ctx ctx{};
  ctx.threads = 2;
  const auto p = test::random_vector(B::param_count, 21);
  const auto x = test::random_vector(3 * 8, 22);
  std::vector<double> y(3 * 12), saved(3 * B::saved_count);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), 3});
  for (std::size_t b = 0; b < 3; ++b) {
    std::vector<double> one(12), s(B::saved_count);
    B::forward(ctx, forward_args<double>{p.data(), x.data() + b * 8, one.data(), s.data(), 1});
    for (std::size_t k = 0; k < 12; ++k) CHECK(y[b * 12 + k] == doctest::Approx(one[k]).epsilon(1e-13));
  }
}

TEST_CASE("lstm backward can repeat after one forward, and accumulate adds") {
  using B = lstm_t<3>::bound<shape<4, 2>>;
  host_context<sequential> ctx{};
  const auto p = test::random_vector(B::param_count, 3);
  const auto x = test::random_vector(5 * 8, 4);
  std::vector<double> y(5 * 12), saved(5 * B::saved_count), once(B::param_count, 7.0), twice(B::param_count, 7.0);
  std::vector<double> dx1(5 * 8), dx2(5 * 8);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), 5});
  auto dy = test::random_vector(5 * 12, 5);
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), dy.data(), dx1.data(), once.data(),
                                         5, false});
  for (int k = 0; k < 2; ++k) {
    dy = test::random_vector(5 * 12, 5);
    B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), dy.data(), dx2.data(),
                                           twice.data(), 5, k > 0});
  }
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]).epsilon(1e-12));
  for (std::size_t i = 0; i < dx1.size(); ++i) CHECK(dx2[i] == doctest::Approx(dx1[i]).epsilon(1e-12));
}

TEST_CASE("lstm init is uniform in +-1/sqrt(H) and depends on the seed") {
  using B = lstm_t<16>::bound<shape<3, 8>>;
  std::vector<float> a(B::param_count), b(B::param_count);
  splitmix64 r1(1), r2(2);
  B::init(a.data(), r1);
  B::init(b.data(), r2);
  float most = 0;
  for (float v : a) most = std::max(most, std::abs(v));
  CHECK(most <= 0.25f);
  CHECK(most > 0.24f);
  CHECK(a != b);
}

namespace {
// Six tokens per sample: five noise tokens from [4, 20) and, at a random step, one key token in
// {1, 2, 3}; the class is key - 1. The model must find the key wherever it sits.
struct key_tokens {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit key_tokens(std::size_t n, std::uint64_t seed) : x(n * 6), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      y[i] = std::int32_t(rng.below(3));
      const std::size_t at = rng.below(6);
      for (std::size_t t = 0; t < 6; ++t) x[i * 6 + t] = t == at ? float(y[i] + 1) : float(4 + rng.below(16));
    }
  }
  samples<shape<6>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * 6, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
};
}  // namespace

TEST_CASE_TEMPLATE("a sequence model learns which key token a sequence holds", System, sequential, openmp) {
  constexpr auto net = input<6> >> embedding<20, 8> >> lstm<16> >> mean_pool >> linear<3>;
  static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<3>>);
  const key_tokens train(512, 1), test(256, 2);
  auto m = place(net, host_device<System>(2), {.max_batch = 32, .seed = 3});
  const auto before = m.evaluate(test.xs(0, 256), test.ys(0, 256), cross_entropy);
  auto opt = adam{.lr = 0.01f};
  double first = 0, last = 0;
  for (std::size_t s = 0; s < 100; ++s) {
    const std::size_t at = (s * 32) % 512;
    const double l = m.train_step(train.xs(at, 32), train.ys(at, 32), cross_entropy, opt);
    if (s < 10) first += l / 10;
    if (s >= 90) last += l / 10;
  }
  const auto after = m.evaluate(test.xs(0, 256), test.ys(0, 256), cross_entropy);
  MESSAGE("loss: first 10 steps ", first, ", last 10 ", last, "; held-out ", before.loss, " -> ", after.loss,
          ", accuracy ", after.accuracy);
  CHECK(last < first / 3);
  CHECK(after.loss < before.loss / 3);
  CHECK(after.accuracy > 0.9);
}

// Micro-batches give each forward its own saved buffer, and backward its workspace in it; the
// region-by-region layout of that buffer must hold for any batch size a policy hands the layer.
TEST_CASE_TEMPLATE("the sequence model trains the same under pipeline and replicate policies", P,
                   pipeline<2, microbatches<4>, gpipe>, pipeline<2, microbatches<3>, one_f_one_b>, replicate<2>) {
  constexpr auto net = input<6> >> embedding<20, 8> >> lstm<16> >> mean_pool >> linear<3>;
  const key_tokens data(24 * 5, 7);
  auto single = place(net, host_device(), {.max_batch = 24, .seed = 4});
  auto multi = place<P>(net, host_devices(2), {.max_batch = 24, .seed = 4});
  auto o1 = sgd{.lr = 0.1f, .momentum = 0.9f}, o2 = o1;  // linear in the gradients: rounding stays rounding
  for (std::size_t s = 0; s < 5; ++s) {
    const float l1 = single.train_step(data.xs(24 * s, 24), data.ys(24 * s, 24), cross_entropy, o1);
    CHECK(multi.train_step(data.xs(24 * s, 24), data.ys(24 * s, 24), cross_entropy, o2) ==
          doctest::Approx(l1).epsilon(1e-5));
  }
  std::vector<float> joined;
  for (std::size_t d = 0; d < (std::is_same_v<P, replicate<2>> ? 1 : 2); ++d) {
    const std::span<const float> p = multi.parameters(d);
    joined.insert(joined.end(), p.begin(), p.end());
  }
  const std::span<const float> r = single.parameters();
  REQUIRE(joined.size() == r.size());
  double worst = 0;
  for (std::size_t i = 0; i < r.size(); ++i)
    worst = std::max(worst, std::abs(double(joined[i]) - double(r[i])) / std::max(0.05, std::abs(double(r[i]))));
  CHECK(worst < 2e-5);
}
