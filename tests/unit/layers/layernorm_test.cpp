#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/layernorm.hpp>

using namespace plait;
using test::host_contexts;

static_assert(BoundLayer<layernorm_t<>::bound<shape<3, 4, 5>>>);
static_assert(layernorm_t<>::bound<shape<3, 4, 5>>::param_count == 120);
static_assert(layernorm_t<>::bound<shape<7>>::saved_count == 2);
static_assert(std::is_same_v<layernorm_t<>::bound<shape<3, 4, 5>>::out_shape, shape<3, 4, 5>>);

TEST_CASE_TEMPLATE_DEFINE("layernorm backward matches finite differences", Ctx, ln_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("vectors") {
    auto r = test::gradcheck<layernorm_t<>::bound<shape<7>>>(ctx, 4);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("images, normalised over the whole sample") {
    auto r = test::gradcheck<layernorm_t<std::ratio<1, 1000>>::bound<shape<2, 3, 4>>>(ctx, 3, 5);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("wide samples cross parameter blocks") {
    auto r = test::gradcheck<layernorm_t<>::bound<shape<300>>>(ctx, 2, 9);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
}
TEST_CASE_TEMPLATE_APPLY(ln_grad, host_contexts);

TEST_CASE_TEMPLATE("layernorm forward normalises each sample over all its elements", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = layernorm_t<>::bound<shape<2, 3, 5>>;
  constexpr std::size_t N = 30, batch = 5;
  Ctx ctx{};
  ctx.threads = 2;
  auto p = test::random_vector(B::param_count, 1);
  auto x = test::random_vector(batch * N, 2, 100, 104);  // a large mean: the variance must not cancel
  std::vector<double> y(batch * N), saved(batch * 2);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch, true});
  for (std::size_t r = 0; r < batch; ++r) {
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < N; ++j) mean += x[r * N + j] / N;
    for (std::size_t j = 0; j < N; ++j) var += std::pow(x[r * N + j] - mean, 2) / N;
    CHECK(saved[2 * r] == doctest::Approx(mean).epsilon(1e-12));
    CHECK(saved[2 * r + 1] == doctest::Approx(1 / std::sqrt(var + 1e-5)).epsilon(1e-10));
    for (std::size_t j = 0; j < N; ++j)
      CHECK(y[r * N + j] ==
            doctest::Approx(p[j] * (x[r * N + j] - mean) / std::sqrt(var + 1e-5) + p[N + j]).epsilon(1e-10));
  }
  // Training and evaluation agree.
  std::vector<double> y_eval(batch * N);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y_eval.data(), saved.data(), batch, false});
  CHECK(y_eval == y);
}

TEST_CASE("layernorm in float: gamma 1 and beta 0 give mean 0 and variance 1 per sample") {
  using B = layernorm_t<>::bound<shape<64>>;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  std::vector<float> p(B::param_count, 5), x(3 * 64), y(3 * 64), saved(3 * 2);
  splitmix64 rng(4), init(1);
  B::init(p.data(), init);
  for (auto& v : x) v = rng.uniform(-2, 6);
  B::forward(ctx, forward_args<float>{p.data(), x.data(), y.data(), saved.data(), 3});
  for (std::size_t r = 0; r < 3; ++r) {
    double mean = 0, sq = 0;
    for (std::size_t j = 0; j < 64; ++j) mean += y[r * 64 + j] / 64.0;
    for (std::size_t j = 0; j < 64; ++j) sq += std::pow(y[r * 64 + j] - mean, 2) / 64.0;
    CHECK(std::abs(mean) < 1e-6);
    CHECK(sq == doctest::Approx(1).epsilon(1e-4));
  }
}

TEST_CASE_TEMPLATE("layernorm backward may write dx over dy, and accumulates", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = layernorm_t<>::bound<shape<3, 7>>;
  constexpr std::size_t n = 4 * 21;
  Ctx ctx{};
  ctx.threads = 2;
  auto p = test::random_vector(B::param_count, 1);
  auto x = test::random_vector(n, 2);
  std::vector<double> y(n), saved(4 * 2), dx(n), dp(B::param_count), dp2(B::param_count);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), 4});
  auto dy = test::random_vector(n, 3);
  auto inplace = dy;
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), dy.data(), dx.data(), dp.data(), 4,
                                         false});
  B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), inplace.data(), inplace.data(),
                                         dp2.data(), 4, false});
  CHECK(inplace == dx);
  CHECK(dp2 == dp);
  auto dy2 = test::random_vector(n, 3);
  B::backward(
      ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), dy2.data(), nullptr, dp2.data(), 4, true});
  for (std::size_t i = 0; i < dp.size(); ++i) CHECK(dp2[i] == doctest::Approx(2 * dp[i]));
}

TEST_CASE("a model with layernorm learns on inputs with a large offset") {
  constexpr auto net = input<8> >> layernorm >> linear<16> >> relu >> linear<2>;
  std::vector<float> x(256 * 8);
  std::vector<std::int32_t> y(256);
  splitmix64 rng(6);
  for (std::size_t i = 0; i < 256; ++i) {
    y[i] = std::int32_t(rng.below(2));
    for (std::size_t j = 0; j < 8; ++j) x[i * 8 + j] = 1000.0f + rng.uniform(-1, 1) + (j < 4) * (y[i] ? 3.0f : -3.0f);
  }
  auto m = place(net, host_device<openmp>(2), {.max_batch = 64, .seed = 2});
  auto opt = adam{.lr = 0.01f};
  float first = 0, last = 0;
  for (int epoch = 0; epoch < 5; ++epoch)
    for (std::size_t at = 0; at < 256; at += 64) {
      last =
          m.train_step(samples<shape<8>>{x.data() + at * 8, 64}, class_labels{y.data() + at, 64}, cross_entropy, opt);
      if (epoch == 0 && at == 0) first = last;
    }
  CHECK(last < first / 4);
  CHECK(m.evaluate(samples<shape<8>>{x.data(), 256}, class_labels{y.data(), 256}, cross_entropy).accuracy > 0.95);
}
