// concat(...) and add(...): shapes from the types, backward against finite differences, and a
// model with branches that learns.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/plait.hpp>

using namespace plait;
using test::host_contexts;

namespace {
constexpr auto wide = concat(linear<6> >> plait::tanh, linear<4> >> plait::sigmoid >> linear<3>, layernorm);
constexpr auto summed = add(linear<5> >> gelu, linear<5>, linear<7> >> relu >> linear<5>);
constexpr auto images = concat(conv2d<3, 3, 1, 1> >> batchnorm2d >> relu, conv2d<2, 1> >> plait::tanh, maxpool2d<1>);
using test::bound_of;

static_assert(std::is_same_v<bound_of<wide, shape<5>>::out_shape, shape<6 + 3 + 5>>);
static_assert(std::is_same_v<bound_of<summed, shape<4>>::out_shape, shape<5>>);
static_assert(std::is_same_v<bound_of<images, shape<2, 4, 4>>::out_shape, shape<3 + 2 + 2, 4, 4>>);
static_assert(bound_of<wide, shape<5>>::param_count ==
              linear_t<6>::bound<shape<5>>::param_count + linear_t<4>::bound<shape<5>>::param_count +
                  linear_t<3>::bound<shape<4>>::param_count + layernorm_t<>::bound<shape<5>>::param_count);
static_assert(bound_of<summed, shape<4>>::flops ==
              linear_t<5, gelu_fn>::bound<shape<4>>::flops + linear_t<5>::bound<shape<4>>::flops +
                  linear_t<7, relu_fn>::bound<shape<4>>::flops + linear_t<5>::bound<shape<7>>::flops + 3 * 5);
static_assert(std::is_same_v<output_shape_t<decltype(input<5> >> wide >> linear<2>)>, shape<2>>);
static_assert(BoundLayer<bound_of<images, shape<2, 4, 4>>>);
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("concat and add: backward matches finite differences", Ctx, branches_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("concat of vectors, with a layer that is a branch by itself") {
    auto r = test::gradcheck<bound_of<wide, shape<5>>>(ctx, 3);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("add of three branches") {
    auto r = test::gradcheck<bound_of<summed, shape<4>>>(ctx, 4);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("concat of image branches along the channels") {
    auto r = test::gradcheck<bound_of<images, shape<2, 4, 4>>>(ctx, 2);
    CHECK(r.max_param_error < 1e-6);
    CHECK(r.max_input_error < 1e-6);
  }
}
TEST_CASE_TEMPLATE_APPLY(branches_grad, host_contexts);

TEST_CASE("concat puts each branch's output in its columns, add sums them") {
  host_context<sequential> ctx{};
  using W = bound_of<concat(linear<2>, linear<3>), shape<2>>;
  using A = bound_of<add(linear<2>, linear<2>), shape<2>>;
  // Branch 0: W = I, b = 0; branch 1: W = [[1, 1], [2, 0], [0, 3]], b = [1, 2, 3].
  std::vector<float> p{1, 0, 0, 1, 0, 0, 1, 1, 2, 0, 0, 3, 1, 2, 3};
  std::vector<float> x{1, 2}, y(5), saved(W::saved_count);
  W::forward(ctx, forward_args<float>{p.data(), x.data(), y.data(), saved.data(), 1});
  CHECK(y == std::vector<float>{1, 2, 1 + 2 + 1, 2 + 2, 6 + 3});
  std::vector<float> q{1, 0, 0, 1, 0, 0, 2, 0, 0, 2, 5, 5}, z(2), saved2(A::saved_count);
  A::forward(ctx, forward_args<float>{q.data(), x.data(), z.data(), saved2.data(), 1});
  CHECK(z == std::vector<float>{1 + 2 + 5, 2 + 4 + 5});
}

TEST_CASE("a model with two branches learns") {
  constexpr auto net = input<8> >> concat(linear<16> >> relu, linear<16> >> plait::tanh) >> linear<3>;
  auto m = place(net, host_device(), {.max_batch = 64, .seed = 2});
  std::vector<float> x(64 * 8);
  std::vector<std::int32_t> y(64);
  splitmix64 rng(4);
  for (std::size_t i = 0; i < 64; ++i) {
    y[i] = std::int32_t(rng.below(3));
    for (std::size_t j = 0; j < 8; ++j) x[i * 8 + j] = rng.uniform(-1, 1) + (j % 3 == std::size_t(y[i]) ? 1.0f : 0.0f);
  }
  auto opt = adam{.lr = 0.01f};
  const float first = m.train_step(samples<shape<8>>{x.data(), 64}, class_labels{y.data(), 64}, cross_entropy, opt);
  float last = first;
  for (int s = 0; s < 100; ++s)
    last = m.train_step(samples<shape<8>>{x.data(), 64}, class_labels{y.data(), 64}, cross_entropy, opt);
  CHECK(last < first / 4);
}
