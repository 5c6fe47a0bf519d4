#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <cmath>
#include <limits>
#include <vector>

using namespace plait;
using test::host_contexts;

TEST_CASE_TEMPLATE_DEFINE("activations' backward matches finite differences", Ctx, act_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  CHECK(test::gradcheck<relu_t::bound<shape<3, 5>>>(ctx, 4).max_input_error < 1e-7);
  CHECK(test::gradcheck<gelu_t::bound<shape<17>>>(ctx, 3).max_input_error < 1e-7);
  CHECK(test::gradcheck<tanh_t::bound<shape<17>>>(ctx, 3).max_input_error < 1e-7);
  CHECK(test::gradcheck<sigmoid_t::bound<shape<2, 2>>>(ctx, 3).max_input_error < 1e-7);
}
TEST_CASE_TEMPLATE_APPLY(act_grad, host_contexts);

TEST_CASE("activation values") {
  CHECK(relu_fn::apply(-2.0) == 0.0);
  CHECK(relu_fn::apply(3.0) == 3.0);
  CHECK(sigmoid_fn::apply(0.0) == 0.5);
  CHECK(tanh_fn::apply(0.0) == 0.0);
  CHECK(gelu_fn::apply(1.0) == doctest::Approx(0.8413447460685429));
  CHECK(gelu_fn::apply(-1.0) == doctest::Approx(-0.15865525393145707));
}

TEST_CASE("an activation after a linear fuses into it; elsewhere it stays a layer") {
  constexpr auto fused = input<4> >> linear<8> >> gelu;
  static_assert(std::is_same_v<decltype(fused), const chain<shape<4>, linear_t<8, gelu_fn>>>);
  constexpr auto alone = input<4> >> relu >> linear<8> >> relu >> plait::tanh;
  static_assert(std::is_same_v<decltype(alone), const chain<shape<4>, relu_t, linear_t<8, relu_fn>, tanh_t>>);
  CHECK(true);
}

namespace {
// The layer's forward on n = 1 sample of shape<4> whose second value is NaN: whether that value
// comes out NaN (and the others do not).
template <class B>
bool nan_passes(const float* params = nullptr, bool only_there = true) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x{-1.0f, nan, 0.5f, 2.0f}, y(B::out_shape::size), saved(B::saved_count + 1);
  host_context<sequential> ctx{};
  B::forward(ctx, forward_args<float>{params, x.data(), y.data(), saved.data(), 1});
  return std::isnan(y[1]) && (!only_there || (!std::isnan(y[0]) && !std::isnan(y[3])));
}
}  // namespace

TEST_CASE("NaN in gives NaN out: no activation hides it (relu of NaN is NaN, as torch.relu)") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(relu_fn::apply(nan)));
  CHECK(std::isnan(gelu_fn::apply(nan)));
  CHECK(std::isnan(tanh_fn::apply(nan)));
  CHECK(std::isnan(sigmoid_fn::apply(nan)));
  CHECK(nan_passes<relu_t::bound<shape<4>>>());
  CHECK(nan_passes<gelu_t::bound<shape<4>>>());
  CHECK(nan_passes<tanh_t::bound<shape<4>>>());
  CHECK(nan_passes<sigmoid_t::bound<shape<4>>>());
  // Fused into a linear (its epilogue applies relu_fn): NaN times a zero weight is NaN, so every
  // output is NaN before relu, and relu keeps it (it used to return 0 there).
  using fused = linear_t<4, relu_fn>::bound<shape<4>>;
  std::vector<float> w(fused::param_count, 0.0f);
  for (std::size_t i = 0; i < 4; ++i) w[i * 4 + i] = 1.0f;
  CHECK(nan_passes<fused>(w.data(), false));
  // relu's gradient passes at NaN, as torch's threshold_backward (NaN <= 0 is false).
  CHECK(relu_fn::grad(nan) == 1.0);
  CHECK(relu_fn::grad(0.0) == 0.0);
}
