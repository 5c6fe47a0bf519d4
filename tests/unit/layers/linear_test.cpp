#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

using namespace plait;
using test::host_contexts;

TEST_CASE_TEMPLATE_DEFINE("linear backward matches finite differences", Ctx, linear_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("identity") {
    auto r = test::gradcheck<linear_t<5>::bound<shape<7>>>(ctx, 3);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("fused relu") {
    auto r = test::gradcheck<linear_t<6, relu_fn>::bound<shape<4>>>(ctx, 5, 7);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("fused gelu keeps z") {
    using B = linear_t<6, gelu_fn>::bound<shape<4>>;
    static_assert(B::saved_count == 6);
    auto r = test::gradcheck<B>(ctx, 4, 11);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("fused tanh and sigmoid") {
    CHECK(test::gradcheck<linear_t<3, tanh_fn>::bound<shape<9>>>(ctx, 2, 3).max_param_error < 1e-7);
    CHECK(test::gradcheck<linear_t<3, sigmoid_fn>::bound<shape<9>>>(ctx, 2, 5).max_input_error < 1e-7);
  }
  SUBCASE("wide output crosses column blocks") {
    auto r = test::gradcheck<linear_t<300, relu_fn>::bound<shape<2>>>(ctx, 3, 13);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
}
TEST_CASE_TEMPLATE_APPLY(linear_grad, host_contexts);

// A sequence shape<T, F>: one map F -> Out shared by every step, as nn.Linear on [B, T, F].
using seq = linear_t<5>::bound<shape<4, 7>>;
static_assert(std::is_same_v<seq::out_shape, shape<4, 5>>);
static_assert(seq::param_count == 5 * 7 + 5);
static_assert(seq::flops == 4 * linear_t<5>::bound<shape<7>>::flops);
static_assert(linear_t<6, gelu_fn>::bound<shape<3, 4>>::saved_count == 3 * 6);  // z at every step
static_assert(std::is_same_v<output_shape_t<decltype(input<3, 4> >> linear<6> >> relu)>, shape<3, 6>>);
static_assert(std::is_same_v<std::remove_cvref_t<decltype(input<3, 4> >> linear<6> >> relu)>,
                             chain<shape<3, 4>, linear_t<6, relu_fn>>>);  // still fused

TEST_CASE_TEMPLATE_DEFINE("linear on sequences: backward matches finite differences", Ctx, linear_seq_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  SUBCASE("identity") {
    auto r = test::gradcheck<seq>(ctx, 3);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("fused relu") {
    auto r = test::gradcheck<linear_t<6, relu_fn>::bound<shape<5, 4>>>(ctx, 2, 17);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("fused gelu keeps z for every step") {
    auto r = test::gradcheck<linear_t<6, gelu_fn>::bound<shape<3, 4>>>(ctx, 4, 19);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
  SUBCASE("one step") {
    auto r = test::gradcheck<linear_t<3, tanh_fn>::bound<shape<1, 9>>>(ctx, 3, 23);
    CHECK(r.max_param_error < 1e-7);
    CHECK(r.max_input_error < 1e-7);
  }
}
TEST_CASE_TEMPLATE_APPLY(linear_seq_grad, host_contexts);

TEST_CASE("linear on a sequence gives each step what the vector layer gives it, and sums the gradients") {
  using S = linear_t<4, sigmoid_fn>::bound<shape<3, 5>>;
  using V = linear_t<4, sigmoid_fn>::bound<shape<5>>;
  host_context<sequential> ctx{};
  constexpr std::size_t batch = 2, steps = 3;
  const auto p = test::random_vector(S::param_count, 31);
  const auto x = test::random_vector(batch * steps * 5, 32);
  const auto dy = test::random_vector(batch * steps * 4, 33);
  std::vector<double> y(batch * steps * 4), dys = dy, dx(x.size()), dp(S::param_count);
  S::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, batch});
  S::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, dys.data(), dx.data(), dp.data(), batch,
                                         false});
  // The vector layer over the same data seen as batch*steps samples of 5 features.
  std::vector<double> yv(y.size()), dyv = dy, dxv(x.size()), dpv(V::param_count);
  V::forward(ctx, forward_args<double>{p.data(), x.data(), yv.data(), nullptr, batch * steps});
  V::backward(ctx, backward_args<double>{p.data(), x.data(), yv.data(), nullptr, dyv.data(), dxv.data(), dpv.data(),
                                         batch * steps, false});
  CHECK(y == yv);
  CHECK(dx == dxv);
  CHECK(dp == dpv);
  // And step t of sample b is the vector layer applied to that step alone.
  std::vector<double> one(4);
  V::forward(ctx, forward_args<double>{p.data(), x.data() + (1 * steps + 2) * 5, one.data(), nullptr, 1});
  for (std::size_t o = 0; o < 4; ++o) CHECK(y[(1 * steps + 2) * 4 + o] == one[o]);
}

TEST_CASE("linear forward is x W^T + b with W as [Out, In]") {
  using B = linear_t<2>::bound<shape<3>>;
  host_context<sequential> ctx{};
  const std::vector<float> p{1, 2, 3, /**/ 4, 5, 6, /* b */ 0.5f, -1};
  const std::vector<float> x{1, 0, -1, /**/ 2, 1, 0};
  std::vector<float> y(4);
  B::forward(ctx, forward_args<float>{p.data(), x.data(), y.data(), nullptr, 2});
  CHECK(y == std::vector<float>{1 - 3 + 0.5f, 4 - 6 - 1, 2 + 2 + 0.5f, 8 + 5 - 1});
}

TEST_CASE("accumulate adds to the parameter gradients") {
  using B = linear_t<3, relu_fn>::bound<shape<2>>;
  host_context<sequential> ctx{};
  auto p = test::random_vector(B::param_count, 3);
  auto x = test::random_vector(4 * 2, 4);
  std::vector<double> y(4 * 3), once(B::param_count), twice(B::param_count);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), nullptr, 4});
  for (auto* dp : {&once, &twice})
    for (int k = 0; k < (dp == &once ? 1 : 2); ++k) {
      auto dy = test::random_vector(4 * 3, 5);
      B::backward(
          ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, dy.data(), nullptr, dp->data(), 4, k > 0});
    }
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("linear init is uniform in +-1/sqrt(In) and depends on the seed") {
  using B = linear_t<16>::bound<shape<64>>;
  std::vector<float> a(B::param_count), b(B::param_count);
  splitmix64 r1(1), r2(2);
  B::init(a.data(), r1);
  B::init(b.data(), r2);
  for (float v : a) CHECK(std::abs(v) <= 0.125f);
  CHECK(a != b);
}
