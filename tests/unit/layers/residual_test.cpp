#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/residual.hpp>
#include <plait/plait.hpp>

using namespace plait;
using test::host_contexts;

namespace {

// The residual block of a ResNet, and the same with a projection shortcut (3 -> 4 channels, stride 2).
constexpr auto block = residual(conv2d<3, 3, 1, 1> >> batchnorm2d >> plait::tanh >> conv2d<3, 3, 1, 1> >> batchnorm2d);
constexpr auto down =
    residual(conv2d<4, 3, 2, 1> >> batchnorm2d >> plait::tanh >> conv2d<4, 3, 1, 1>, conv2d<4, 1, 2> >> batchnorm2d);
using test::bound_of;

// Shapes, counts and FLOPs from the type alone.
using block_b = bound_of<block, shape<3, 5, 5>>;
using conv_b = conv2d_t<3, 3, 1, 1>::bound<shape<3, 5, 5>>;
using bn_b = batchnorm2d_t<>::bound<shape<3, 5, 5>>;
static_assert(std::is_same_v<block_b::out_shape, shape<3, 5, 5>>);
static_assert(block_b::param_count == 2 * conv_b::param_count + 2 * bn_b::param_count);
static_assert(block_b::flops ==
              2 * conv_b::flops + 2 * bn_b::flops + 75 * plait::tanh_t::bound<shape<75>>::flops / 75 + 75);
static_assert(block_b::state_count >= 2 * conv_b::state_count + 2 * bn_b::state_count);
static_assert(std::is_same_v<bound_of<down, shape<3, 6, 6>>::out_shape, shape<4, 3, 3>>);
static_assert(std::is_same_v<output_shape_t<decltype(input<3, 6, 6> >> down >> flatten)>, shape<36>>);
// `residual(f) >> relu` is one layer: the relu runs in the add.
static_assert(decltype(input<3, 5, 5> >> block >> relu)::layer_count == 1);
static_assert(std::is_same_v<decltype(block >> relu)::layers,
                             type_list<residual_t<decltype(block)::function, chain<no_input>, relu_fn>>>);
static_assert(LayerSpec<decltype(residual(linear<4>))> && BoundLayer<bound_of<residual(linear<4>), shape<4>>>);

template <class B, class Ctx>
void check_gradients(const Ctx& ctx, std::size_t batch, std::uint64_t seed = 1, double tol = 1e-7) {
  const auto r = test::gradcheck<B>(ctx, batch, seed);
  CHECK(r.max_param_error < tol);
  CHECK(r.max_input_error < tol);
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("residual backward matches finite differences", Ctx, residual_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("over linear layers, identity shortcut") {
    check_gradients<bound_of<residual(linear<5> >> plait::tanh >> linear<5>), shape<5>>>(ctx, 3);
  }
  SUBCASE("over linear layers, linear projection, tanh fused after the add") {
    check_gradients<bound_of<(residual(linear<6> >> plait::tanh >> linear<3>, linear<3>) >> plait::tanh), shape<5>>>(
        ctx, 4, 2);
  }
  SUBCASE("over conv2d and batchnorm2d, identity shortcut") {
    check_gradients<bound_of<block, shape<3, 5, 5>>>(ctx, 3, 3);
  }
  SUBCASE("over conv2d and batchnorm2d, strided projection shortcut") {
    check_gradients<bound_of<down, shape<3, 6, 6>>>(ctx, 2, 4);
  }
  SUBCASE("views at both ends of both branches") {
    check_gradients<bound_of<residual(flatten >> linear<4>, flatten >> linear<4> >> plait::tanh), shape<2, 3, 3>>>(
        ctx, 3, 5);
  }
  SUBCASE("nested residuals") {
    check_gradients<bound_of<residual(residual(linear<4> >> plait::tanh) >> linear<4>), shape<4>>>(ctx, 2, 6);
  }
}
TEST_CASE_TEMPLATE_APPLY(residual_grad, host_contexts);

TEST_CASE_TEMPLATE("residual forward is f run by hand plus the shortcut", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  Ctx ctx{};
  ctx.threads = 2;
  constexpr std::size_t batch = 3;
  using In = shape<3, 6, 6>;
  using R = bound_of<(down >> relu), In>;
  // The inner layers, bound as f and the projection bind them.
  using C1 = conv2d_t<4, 3, 2, 1>::bound<In>;
  using N1 = batchnorm2d_t<>::bound<C1::out_shape>;
  using T1 = plait::tanh_t::bound<C1::out_shape>;
  using C2 = conv2d_t<4, 3, 1, 1>::bound<C1::out_shape>;
  using P1 = conv2d_t<4, 1, 2>::bound<In>;
  using N2 = batchnorm2d_t<>::bound<P1::out_shape>;
  const auto params = test::random_vector(R::param_count, 11);
  const auto x = test::random_vector(batch * In::size, 12);
  std::vector<double> y(batch * R::out_shape::size), saved(batch * R::saved_count), state(R::state_count);
  R::init_state(state.data());
  R::forward(ctx, forward_args<double>{params.data(), x.data(), y.data(), saved.data(), batch, true, state.data()});

  // By hand: the same parameters, taken in order from the concatenation.
  const double* p = params.data();
  auto run = [&]<class B>(B, const std::vector<double>& in) {
    std::vector<double> out(batch * B::out_shape::size), sv(batch * B::saved_count + 1), st(state_count_of<B> + 2);
    if constexpr (requires(double* s) { B::init_state(s); }) B::init_state(st.data());
    B::forward(ctx, forward_args<double>{p, in.data(), out.data(), sv.data(), batch, true, st.data()});
    p += B::param_count;
    return out;
  };
  const auto f = run(C2{}, run(T1{}, run(N1{}, run(C1{}, x))));
  const auto s = run(N2{}, run(P1{}, x));
  CHECK(p == params.data() + R::param_count);
  double err = 0;
  for (std::size_t i = 0; i < y.size(); ++i) err = std::max(err, std::abs(y[i] - std::max(0.0, f[i] + s[i])));
  CHECK(err == 0.0);
  CHECK(*std::max_element(y.begin(), y.end()) > 0.5);  // not all clipped away

  SUBCASE("and the identity shortcut adds x itself") {
    using I = bound_of<residual(linear<7> >> relu >> linear<6>), shape<6>>;
    const auto q = test::random_vector(I::param_count, 13), xi = test::random_vector(batch * 6, 14);
    std::vector<double> yi(batch * 6), si(batch * I::saved_count);
    I::forward(ctx, forward_args<double>{q.data(), xi.data(), yi.data(), si.data(), batch});
    p = q.data();
    const auto fi = run(linear_t<6>::bound<shape<7>>{}, run(linear_t<7, relu_fn>::bound<shape<6>>{}, xi));
    for (std::size_t i = 0; i < yi.size(); ++i) CHECK(yi[i] == fi[i] + xi[i]);
  }
}

TEST_CASE("residual backward: accumulate adds, a null dx changes no parameter gradient, dy is scratch") {
  host_context<openmp> ctx{};
  ctx.threads = 2;
  using R = bound_of<down, shape<3, 6, 6>>;
  constexpr std::size_t batch = 2, in = R::in_shape::size, out = R::out_shape::size;
  const auto params = test::random_vector(R::param_count, 21), x = test::random_vector(batch * in, 22),
             w = test::random_vector(batch * out, 23);
  std::vector<double> y(batch * out), saved(batch * R::saved_count), state(R::state_count);
  R::init_state(state.data());
  R::forward(ctx, forward_args<double>{params.data(), x.data(), y.data(), saved.data(), batch, true, state.data()});
  auto grads = [&](bool with_dx, bool accumulate, std::vector<double> dp) {
    std::vector<double> dy = w, dx(batch * in, 0.0);
    R::backward(ctx, backward_args<double>{params.data(), x.data(), y.data(), saved.data(), dy.data(),
                                           with_dx ? dx.data() : nullptr, dp.data(), batch, accumulate, state.data()});
    return std::pair{dp, dx};
  };
  const auto [dp, dx] = grads(true, false, std::vector<double>(R::param_count, 99.0));
  const auto [dp_null, dx_null] = grads(false, false, std::vector<double>(R::param_count, -5.0));
  CHECK(dp == dp_null);
  CHECK(std::all_of(dx_null.begin(), dx_null.end(), [](double v) { return v == 0.0; }));
  CHECK(std::any_of(dx.begin(), dx.end(), [](double v) { return std::abs(v) > 1e-3; }));
  const auto [dp_twice, unused] = grads(true, true, dp);
  for (std::size_t i = 0; i < dp.size(); ++i) CHECK(dp_twice[i] == doctest::Approx(2 * dp[i]).epsilon(1e-12));
}

TEST_CASE("residual passes the training flag on: batchnorm's running statistics move only in training") {
  host_context<sequential> ctx{};
  using R = bound_of<block, shape<3, 5, 5>>;
  constexpr std::size_t batch = 2;
  const auto params = test::random_vector(R::param_count, 31), x = test::random_vector(batch * 75, 32, 1, 3);
  std::vector<double> y(batch * 75), saved(batch * R::saved_count), state(R::state_count);
  R::init_state(state.data());
  const auto initial = state;
  R::forward(ctx, forward_args<double>{params.data(), x.data(), y.data(), saved.data(), batch, false, state.data()});
  CHECK(state == initial);
  R::forward(ctx, forward_args<double>{params.data(), x.data(), y.data(), saved.data(), batch, true, state.data()});
  CHECK(state != initial);
}

namespace {
// Images of 2 x 8 x 8: class 1 when channel 0's left half is brighter than its right half, else
// class 0, plus noise everywhere.
struct halves {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit halves(std::size_t n, std::uint64_t seed) : x(n * 128), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      y[i] = std::int32_t(rng.below(2));
      for (std::size_t j = 0; j < 128; ++j) {
        const bool left = (j % 8) < 4, bright = j < 64 && left == (y[i] == 1);
        x[i * 128 + j] = rng.uniform(-1, 1) + (bright ? 0.6f : 0.0f);
      }
    }
  }
};
constexpr auto resnet =
    input<2, 8, 8> >> conv2d<4, 3, 1, 1> >> relu >>
    residual(conv2d<4, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<4, 3, 1, 1> >> batchnorm2d) >> relu >>
    residual(conv2d<8, 3, 2, 1> >> batchnorm2d >> relu >> conv2d<8, 3, 1, 1>, conv2d<8, 1, 2>) >> relu
    >> maxpool2d<2> >> flatten >> linear<2>;
}  // namespace

TEST_CASE_TEMPLATE("a model with residual blocks trains", System, sequential, openmp) {
  static_assert(decltype(resnet)::layer_count == 7);
  const halves train(512, 1), test(256, 2);
  auto m = place(resnet, host_device<System>(2), {.max_batch = 32, .seed = 3});
  const auto before =
      m.evaluate(samples<shape<2, 8, 8>>{test.x.data(), 256}, class_labels{test.y.data(), 256}, cross_entropy);
  auto opt = adam{.lr = 0.01f};
  for (int epoch = 0; epoch < 4; ++epoch)
    for (std::size_t at = 0; at < 512; at += 32)
      m.train_step(samples<shape<2, 8, 8>>{train.x.data() + at * 128, 32}, class_labels{train.y.data() + at, 32},
                   cross_entropy, opt);
  const auto after =
      m.evaluate(samples<shape<2, 8, 8>>{test.x.data(), 256}, class_labels{test.y.data(), 256}, cross_entropy);
  CHECK(after.loss < before.loss / 2);
  CHECK(after.accuracy > 0.9);
}
