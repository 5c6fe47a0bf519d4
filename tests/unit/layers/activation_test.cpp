#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

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
