#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/conv2d.hpp>
#include <plait/layers/pool2d.hpp>
#include <plait/plait.hpp>

using namespace plait;
using test::host_contexts;

// Shapes, counts and FLOPs from the type alone.
using conv_3x3_same = conv2d_t<4, 3, 1, 1>::bound<shape<3, 8, 6>>;
static_assert(std::is_same_v<conv_3x3_same::out_shape, shape<4, 8, 6>>);
static_assert(conv_3x3_same::param_count == 4 * 3 * 3 * 3 + 4);
static_assert(conv_3x3_same::saved_count == 27 * 48 && conv_3x3_same::state_count == 27 * 48);
static_assert(conv_3x3_same::flops == 2 * 4 * 27 * 48 + 4 * 48);
static_assert(std::is_same_v<conv2d_t<2, 3, 2, 0>::bound<shape<1, 7, 8>>::out_shape, shape<2, 3, 3>>);
static_assert(std::is_same_v<conv2d_t<2, 2, 2, 0>::bound<shape<1, 5, 4>>::out_shape, shape<2, 2, 2>>);  // floor
static_assert(std::is_same_v<conv2d_t<5, 3, 1, 2>::bound<shape<2, 1, 1>>::out_shape, shape<5, 3, 3>>);
static_assert(std::is_same_v<decltype(conv2d<16, 5>), const conv2d_t<16, 5, 1, 0>>);
static_assert(std::is_same_v<output_shape_t<decltype(input<3, 32, 32> >> conv2d<8, 3, 1, 1> >> conv2d<16, 3, 2, 1>)>,
                             shape<16, 16, 16>>);

namespace {

/// y[b, o, oh, ow] = bias[o] + sum over c, kh, kw of W[o, c, kh, kw] x[b, c, oh*S - P + kh, ow*S - P + kw].
template <class B, std::size_t K, std::size_t S, std::size_t P>
std::vector<double> naive_conv(const std::vector<double>& p, const std::vector<double>& x, std::size_t batch) {
  constexpr std::size_t C = B::in_shape::dims[0], H = B::in_shape::dims[1], W = B::in_shape::dims[2];
  constexpr std::size_t O = B::out_shape::dims[0], Ho = B::out_shape::dims[1], Wo = B::out_shape::dims[2];
  std::vector<double> y(batch * O * Ho * Wo);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t oh = 0; oh < Ho; ++oh)
        for (std::size_t ow = 0; ow < Wo; ++ow) {
          double s = p[O * C * K * K + o];
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t kh = 0; kh < K; ++kh)
              for (std::size_t kw = 0; kw < K; ++kw) {
                const long ih = long(oh * S + kh) - long(P), iw = long(ow * S + kw) - long(P);
                if (ih < 0 || iw < 0 || ih >= long(H) || iw >= long(W)) continue;
                s += p[((o * C + c) * K + kh) * K + kw] * x[((b * C + c) * H + std::size_t(ih)) * W + std::size_t(iw)];
              }
          y[((b * O + o) * Ho + oh) * Wo + ow] = s;
        }
  return y;
}

template <std::size_t Out, std::size_t K, std::size_t S, std::size_t P, class In, class Ctx>
void check_against_naive(const Ctx& ctx, std::size_t batch, std::uint64_t seed) {
  using B = typename conv2d_t<Out, K, S, P>::template bound<In>;
  const auto p = test::random_vector(B::param_count, seed), x = test::random_vector(batch * In::size, seed + 1);
  std::vector<double> y(batch * B::out_shape::size, -7.0), saved(batch * B::saved_count);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch});
  const auto want = naive_conv<B, K, S, P>(p, x, batch);
  double err = 0;
  for (std::size_t i = 0; i < y.size(); ++i) err = std::max(err, std::abs(y[i] - want[i]));
  CHECK(err < 1e-12);
}

template <class B, class Ctx>
void check_gradients(const Ctx& ctx, std::size_t batch, std::uint64_t seed) {
  const auto r = test::gradcheck<B>(ctx, batch, seed);
  CHECK(r.max_param_error < 1e-7);
  CHECK(r.max_input_error < 1e-7);
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("conv2d forward is the direct convolution", Ctx, conv_forward) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("3x3, stride 1, no padding, one channel") { check_against_naive<2, 3, 1, 0, shape<1, 6, 6>>(ctx, 1, 1); }
  SUBCASE("3x3 same padding, 3 channels, H != W") { check_against_naive<4, 3, 1, 1, shape<3, 7, 5>>(ctx, 3, 2); }
  SUBCASE("stride 2 with padding, odd sizes") { check_against_naive<3, 3, 2, 1, shape<3, 9, 6>>(ctx, 2, 3); }
  SUBCASE("2x2 stride 2 drops the last row and column") { check_against_naive<2, 2, 2, 0, shape<2, 5, 7>>(ctx, 3, 4); }
  SUBCASE("1x1 is a per-pixel linear map") { check_against_naive<5, 1, 1, 0, shape<3, 4, 3>>(ctx, 2, 5); }
  SUBCASE("kernel wider than the image, fitting only with padding") {
    check_against_naive<2, 5, 1, 2, shape<2, 3, 2>>(ctx, 2, 6);
    check_against_naive<3, 3, 3, 2, shape<1, 4, 1>>(ctx, 1, 7);  // some windows lie wholly in the padding
  }
}
TEST_CASE_TEMPLATE_APPLY(conv_forward, host_contexts);

TEST_CASE_TEMPLATE_DEFINE("conv2d backward matches finite differences", Ctx, conv_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("stride 1, no padding, C = 1, batch 1") { check_gradients<conv2d_t<2, 3>::bound<shape<1, 5, 5>>>(ctx, 1, 1); }
  SUBCASE("same padding, C = 3, H != W, batch 3") {
    check_gradients<conv2d_t<4, 3, 1, 1>::bound<shape<3, 5, 4>>>(ctx, 3, 2);
  }
  SUBCASE("stride 2, padding 1, C = 3, batch 3") {
    check_gradients<conv2d_t<3, 3, 2, 1>::bound<shape<3, 6, 7>>>(ctx, 3, 3);
  }
  SUBCASE("stride 2, no padding, a row and column left out") {
    check_gradients<conv2d_t<2, 2, 2, 0>::bound<shape<2, 5, 4>>>(ctx, 2, 4);
  }
  SUBCASE("stride 3 with padding 2: windows in the padding only") {
    check_gradients<conv2d_t<2, 3, 3, 2>::bound<shape<1, 4, 1>>>(ctx, 3, 5);
  }
}
TEST_CASE_TEMPLATE_APPLY(conv_grad, host_contexts);

TEST_CASE("conv2d accumulates parameter gradients, and skips dx when it is null") {
  using B = conv2d_t<3, 3, 2, 1>::bound<shape<2, 6, 5>>;
  host_context<sequential> ctx{};
  const std::size_t batch = 3;
  const auto p = test::random_vector(B::param_count, 3), x = test::random_vector(batch * 60, 4);
  const auto dy0 = test::random_vector(batch * B::out_shape::size, 5);
  std::vector<double> y(batch * B::out_shape::size), saved(batch * B::saved_count), state(B::state_count);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch});
  std::vector<double> once(B::param_count), twice(B::param_count, 1e9), dx(batch * 60, 5.0);
  auto run = [&](std::vector<double>& dp, double* dxp, bool acc) {
    auto dy = dy0;
    B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), dy.data(), dxp, dp.data(), batch,
                                           acc, state.data()});
  };
  run(once, nullptr, false);
  run(twice, dx.data(), false);  // overwrites the 1e9s
  run(twice, nullptr, true);     // backward twice from one forward: col in `saved` is intact
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]));
  CHECK(std::none_of(dx.begin(), dx.end(), [](double v) { return v == 5.0; }));
}

TEST_CASE("conv2d init is uniform in +-1/sqrt(C*K*K) and depends on the seed") {
  using B = conv2d_t<8, 3>::bound<shape<4, 6, 6>>;  // 1/sqrt(36)
  std::vector<float> a(B::param_count), b(B::param_count);
  splitmix64 r1(1), r2(2);
  B::init(a.data(), r1);
  B::init(b.data(), r2);
  float largest = 0;
  for (float v : a) largest = std::max(largest, std::abs(v));
  CHECK(largest <= 1.0f / 6);
  CHECK(largest > 0.9f / 6);
  CHECK(a != b);
}

TEST_CASE_TEMPLATE("a small conv net learns to tell bright quadrants apart", System, sequential, openmp) {
  constexpr auto net = input<3, 8, 8> >> conv2d<4, 3, 1, 1> >> relu >> maxpool2d<2> >> flatten >> linear<10>;
  static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<10>>);
  // Class q in [0, 4): noise plus a bright 4x4 quadrant q in channel q % 3.
  const std::size_t n = 64;
  std::vector<float> x(n * 192);
  std::vector<std::int32_t> y(n);
  splitmix64 rng(11);
  for (std::size_t i = 0; i < n; ++i) {
    const auto q = std::size_t(rng.below(4));
    y[i] = std::int32_t(q);
    for (std::size_t j = 0; j < 192; ++j) x[i * 192 + j] = rng.uniform(-0.5f, 0.5f);
    for (std::size_t h = 0; h < 4; ++h)
      for (std::size_t w = 0; w < 4; ++w) x[i * 192 + (q % 3) * 64 + (h + 4 * (q / 2)) * 8 + w + 4 * (q % 2)] += 1.5f;
  }
  auto m = place(net, host_device<System>(2), {.max_batch = 32, .seed = 3});
  const samples<shape<3, 8, 8>> xs{x.data(), n};
  const class_labels ys{y.data(), n};
  const auto before = m.evaluate(xs, ys, cross_entropy);
  auto opt = adam{.lr = 0.01f};
  for (int epoch = 0; epoch < 8; ++epoch)
    for (std::size_t at = 0; at < n; at += 32)
      m.train_step(samples<shape<3, 8, 8>>{x.data() + at * 192, 32}, class_labels{y.data() + at, 32}, cross_entropy,
                   opt);
  const auto after = m.evaluate(xs, ys, cross_entropy);
  CHECK(after.loss < before.loss / 2);
  CHECK(after.accuracy > 0.9);
}
