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
      B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), nullptr, dy.data(), nullptr, dp->data(), 4, k > 0});
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
