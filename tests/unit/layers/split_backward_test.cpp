// A layer that says splits_backward (core/concepts.hpp) runs either part of its backward alone: with
// dparams null, the input part gives the whole backward's dx; with dx null, the weight part gives
// its dparams (also accumulated). Predictive coding (runtime/predictive_coding.hpp) takes the parts
// at different times; a layer that does not say it is refused there.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/plait.hpp>

using namespace plait;

namespace {
template <class B>
void check_split(std::size_t batch, std::uint64_t seed) {
  static_assert(splits_backward_v<B>);
  constexpr std::size_t in = B::in_shape::size, out = B::out_shape::size;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  const auto p = test::random_vector(B::param_count, seed);
  const auto x = test::random_vector(batch * in, seed + 1);
  std::vector<double> y(batch * out), saved(batch * B::saved_count + 1), state(state_count_of<B> + 1);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch, true, state.data()});
  const auto dy = test::random_vector(batch * out, seed + 2);
  const auto backward = [&](bool input, bool weights, bool accumulate, std::vector<double>& dx,
                            std::vector<double>& dp) {
    auto g = dy;  // backward may overwrite dy
    double* dxp = input ? (B::in_place_grad ? (dx = g, g.data()) : dx.data()) : nullptr;
    B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), g.data(), dxp,
                                           weights ? dp.data() : nullptr, batch, accumulate, state.data()});
    if (input && B::in_place_grad) dx = g;
  };
  std::vector<double> dx_whole(batch * in), dp_whole(B::param_count + 1), dx_alone(batch * in, 7.0),
      dp_alone(B::param_count + 1), unused(B::param_count + 1), unused_dx(batch * in);
  backward(true, B::param_count > 0, false, dx_whole, dp_whole);
  backward(true, false, false, dx_alone, unused);  // the input part alone
  for (std::size_t i = 0; i < dx_whole.size(); ++i) CHECK(dx_alone[i] == doctest::Approx(dx_whole[i]).epsilon(1e-12));
  if constexpr (B::param_count > 0) {
    backward(false, true, false, unused_dx, dp_alone);  // the weight part alone
    for (std::size_t i = 0; i < B::param_count; ++i) CHECK(dp_alone[i] == doctest::Approx(dp_whole[i]).epsilon(1e-12));
    backward(false, true, true, unused_dx, dp_alone);  // and accumulated
    for (std::size_t i = 0; i < B::param_count; ++i)
      CHECK(dp_alone[i] == doctest::Approx(2 * dp_whole[i]).epsilon(1e-12));
  }
}
}  // namespace

TEST_CASE("linear (fused activations), conv2d and layernorm run their input and weight parts apart") {
  check_split<linear_t<6, identity_fn>::bound<shape<5>>>(4, 1);
  check_split<linear_t<6, relu_fn>::bound<shape<5>>>(4, 2);
  check_split<linear_t<6, gelu_fn>::bound<shape<3, 5>>>(3, 3);
  check_split<linear_t<6, tanh_fn>::bound<shape<5>>>(4, 4);
  check_split<conv2d_t<3, 3, 1, 1>::bound<shape<2, 5, 5>>>(2, 5);
  check_split<conv2d_t<20, 3, 2, 0>::bound<shape<2, 7, 7>>>(2, 6);
  check_split<layernorm_t<>::bound<shape<9>>>(4, 7);
}

TEST_CASE("parameter-free layers: the input part is the whole backward") {
  check_split<activation_t<relu_fn>::bound<shape<8>>>(3, 8);
  check_split<activation_t<sigmoid_fn>::bound<shape<8>>>(3, 9);
  check_split<maxpool2d_t<2, 2>::bound<shape<2, 4, 4>>>(3, 10);
  check_split<avgpool2d_t<2, 2>::bound<shape<2, 4, 4>>>(3, 11);
  check_split<mean_pool_t::bound<shape<4, 6>>>(3, 12);
}

TEST_CASE("layers that keep state or draw random numbers do not say they split") {
  static_assert(!splits_backward_v<batchnorm2d_t<>::bound<shape<2, 4, 4>>>);
  static_assert(!splits_backward_v<dropout_t<0.5f>::bound<shape<8>>>);
  static_assert(!splits_backward_v<lstm_t<4>::bound<shape<3, 5>>>);
}
