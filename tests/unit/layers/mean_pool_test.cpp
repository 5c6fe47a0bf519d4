#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/mean_pool.hpp>

#include <cmath>
#include <limits>

using namespace plait;
using test::host_contexts;

TEST_CASE("mean_pool maps shape<T, D> to shape<D> with no parameters") {
  using B = mean_pool_t::bound<shape<5, 3>>;
  static_assert(std::is_same_v<B::out_shape, shape<3>>);
  static_assert(B::param_count == 0 && B::saved_count == 0 && !B::is_view);
  static_assert(std::is_same_v<output_shape_t<decltype(input<4, 7> >> mean_pool >> linear<2>)>, shape<2>>);
}

TEST_CASE("mean_pool forward is the mean over the steps, per sample") {
  using B = mean_pool_t::bound<shape<3, 2>>;
  host_context<sequential> ctx{};
  const std::vector<float> x{1, 10, 2, 20, 6, 60, /**/ -3, 0, 0, 3, 0, 0};
  std::vector<float> y(4, -1);
  B::forward(ctx, forward_args<float>{nullptr, x.data(), y.data(), nullptr, 2});
  CHECK(y == std::vector<float>{3, 30, -1, 1});
  std::vector<float> with_nan = x;
  with_nan[2] = std::numeric_limits<float>::quiet_NaN();  // NaN in gives NaN out, in its column only
  B::forward(ctx, forward_args<float>{nullptr, with_nan.data(), y.data(), nullptr, 2});
  CHECK((std::isnan(y[0]) && y[1] == 30 && y[2] == -1));
}

TEST_CASE("mean_pool backward spreads dy / T over every step") {
  using B = mean_pool_t::bound<shape<4, 2>>;
  host_context<sequential> ctx{};
  std::vector<double> dy{4, -8}, dx(8, 99.0);
  B::backward(ctx, backward_args<double>{nullptr, nullptr, nullptr, nullptr, dy.data(), dx.data(), nullptr, 1, false});
  CHECK(dx == std::vector<double>{1, -2, 1, -2, 1, -2, 1, -2});
}

TEST_CASE_TEMPLATE_DEFINE("mean_pool backward matches finite differences", Ctx, mean_pool_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  CHECK(test::gradcheck<mean_pool_t::bound<shape<5, 3>>>(ctx, 4).max_input_error < 1e-8);
  CHECK(test::gradcheck<mean_pool_t::bound<shape<1, 7>>>(ctx, 3, 5).max_input_error < 1e-8);
  CHECK(test::gradcheck<mean_pool_t::bound<shape<9, 1>>>(ctx, 6, 9).max_input_error < 1e-8);
}
TEST_CASE_TEMPLATE_APPLY(mean_pool_grad, host_contexts);
