#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/pool2d.hpp>
#include <plait/plait.hpp>

#include <cmath>
#include <limits>

using namespace plait;
using test::host_contexts;

// Shapes and counts from the type alone: floor rounding, Stride defaults to K.
static_assert(std::is_same_v<maxpool2d_t<2>::bound<shape<3, 8, 6>>::out_shape, shape<3, 4, 3>>);
static_assert(std::is_same_v<maxpool2d_t<2>::bound<shape<1, 5, 7>>::out_shape, shape<1, 2, 3>>);
static_assert(std::is_same_v<avgpool2d_t<3, 2>::bound<shape<2, 7, 8>>::out_shape, shape<2, 3, 3>>);
static_assert(std::is_same_v<decltype(maxpool2d<3>), const maxpool2d_t<3, 3>>);
static_assert(maxpool2d_t<2>::bound<shape<3, 8, 6>>::saved_count == 36);
static_assert(avgpool2d_t<2>::bound<shape<3, 8, 6>>::saved_count == 0);
static_assert(maxpool2d_t<2>::bound<shape<3, 8, 6>>::param_count == 0);
static_assert(
    std::is_same_v<output_shape_t<decltype(input<1, 28, 28> >> maxpool2d<2> >> avgpool2d<3, 2>)>, shape<1, 6, 6>>);

namespace {
template <class B>
struct run {
  std::size_t batch;
  std::vector<float> y, saved, dx;
  run(const std::vector<float>& x, const std::vector<float>& dy, std::size_t n)
      : batch(n), y(n * B::out_shape::size), saved(n * B::saved_count + 1), dx(n * B::in_shape::size, -1.0f) {
    host_context<sequential> ctx{};
    B::forward(ctx, forward_args<float>{nullptr, x.data(), y.data(), saved.data(), n});
    auto g = dy;
    B::backward(
        ctx, backward_args<float>{nullptr, x.data(), y.data(), saved.data(), g.data(), dx.data(), nullptr, n, false});
  }
};

// One channel, 4 x 4: four 2 x 2 windows.
const std::vector<float> image{1,  5,  2, 0,  //
                               3,  4,  8, 8,  //
                               -1, -2, 6, 7,  //
                               -3, -1, 7, 6};
}  // namespace

TEST_CASE("maxpool2d takes each window's maximum and routes dy to it, the first on ties") {
  const run<maxpool2d_t<2>::bound<shape<1, 4, 4>>> r(image, {10, 20, 30, 40}, 1);
  CHECK(r.y == std::vector<float>{5, 8, -1, 7});
  CHECK(r.saved[0] == 1);                         // position 1 of the [4, 4] plane
  CHECK(r.saved[1] == 6);                         // 8 at (1, 2) and (1, 3): the first
  CHECK(r.dx == std::vector<float>{0, 10, 0, 0,   //
                                   0, 0, 20, 0,   //
                                   30, 0, 0, 40,  //
                                   0, 0, 0, 0});
}

TEST_CASE("maxpool2d with overlapping windows adds their gradients, per channel and sample") {
  // Stride 1 over a 3 x 3 plane: four windows all holding the centre maximum.
  const std::vector<float> x{0,
                             1,
                             0,
                             1,
                             9,
                             1,
                             0,
                             1,
                             0,
                             /* channel 1 */ 9,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             1,
                             /* sample 1 */ 1,
                             2,
                             3,
                             4,
                             5,
                             6,
                             7,
                             8,
                             9,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0,
                             0};
  const std::vector<float> dy{1, 2, 3, 4, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 1, 2, 3, 4};
  const run<maxpool2d_t<2, 1>::bound<shape<2, 3, 3>>> r(x, dy, 2);
  CHECK(r.y == std::vector<float>{9, 9, 9, 9, 9, 0, 0, 1, /**/ 5, 6, 8, 9, 0, 0, 0, 0});
  CHECK(r.dx[4] == 10);
  // Channel 1 of sample 0: (0, 0) wins its window; two windows of zeros take their first zero.
  CHECK(std::vector<float>(r.dx.begin() + 9, r.dx.begin() + 18) == std::vector<float>{1, 1, 0, 1, 0, 0, 0, 0, 1});
  // Channel 1 of sample 1, all zeros: each window's first element takes its dy.
  CHECK(std::vector<float>(r.dx.begin() + 27, r.dx.end()) == std::vector<float>{1, 2, 0, 3, 4, 0, 0, 0, 0});
  double total = 0;
  for (float v : r.dx) total += v;
  CHECK(total == 10 + 4 + 4 + 10);  // every dy lands exactly once
}

TEST_CASE("avgpool2d averages each window and spreads dy / K^2 over it") {
  const run<avgpool2d_t<2>::bound<shape<1, 4, 4>>> r(image, {4, 8, -4, 0}, 1);
  CHECK(r.y == std::vector<float>{13.0f / 4, 18.0f / 4, -7.0f / 4, 26.0f / 4});
  CHECK(r.dx == std::vector<float>{1, 1, 2, 2,    //
                                   1, 1, 2, 2,    //
                                   -1, -1, 0, 0,  //
                                   -1, -1, 0, 0});
}

TEST_CASE("pooling drops the rows and columns no window reaches") {
  const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};  // [1, 3, 5]
  const run<avgpool2d_t<2>::bound<shape<1, 3, 5>>> r(x, {4, 4}, 1);
  CHECK(r.y == std::vector<float>{(1 + 2 + 6 + 7) / 4.0f, (3 + 4 + 8 + 9) / 4.0f});
  CHECK(r.dx == std::vector<float>{1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0});
}

TEST_CASE_TEMPLATE_DEFINE("pooling backward matches finite differences", Ctx, pool_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  // Random inputs: no ties, and no two values of a window within the step h = 1e-6 of each other.
  SUBCASE("maxpool 2x2, C = 1, batch 1") {
    CHECK(test::gradcheck<maxpool2d_t<2>::bound<shape<1, 4, 4>>>(ctx, 1, 1).max_input_error < 1e-7);
  }
  SUBCASE("maxpool 3x3 stride 2 overlapping, C = 3, H != W, batch 3") {
    CHECK(test::gradcheck<maxpool2d_t<3, 2>::bound<shape<3, 7, 6>>>(ctx, 3, 2).max_input_error < 1e-7);
  }
  SUBCASE("avgpool 2x2, C = 3, H != W, batch 3") {
    CHECK(test::gradcheck<avgpool2d_t<2>::bound<shape<3, 5, 4>>>(ctx, 3, 3).max_input_error < 1e-7);
  }
  SUBCASE("avgpool 3x3 stride 1 overlapping, C = 1, batch 1") {
    CHECK(test::gradcheck<avgpool2d_t<3, 1>::bound<shape<1, 5, 6>>>(ctx, 1, 4).max_input_error < 1e-7);
  }
}
TEST_CASE_TEMPLATE_APPLY(pool_grad, host_contexts);

TEST_CASE("NaN in gives NaN out: a window holding NaN pools to NaN (max and average), the others do not") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const std::size_t at : {0u, 5u}) {  // NaN first in its window, and after the window's maximum
    auto x = image;
    x[at] = nan;
    const run<maxpool2d_t<2>::bound<shape<1, 4, 4>>> m(x, {1, 1, 1, 1}, 1);
    CHECK(std::isnan(m.y[0]));
    CHECK(m.y[1] == 8);
    CHECK(m.dx[at] == 1);  // the gradient goes to the NaN, as in PyTorch
    const run<avgpool2d_t<2>::bound<shape<1, 4, 4>>> a(x, {1, 1, 1, 1}, 1);
    CHECK(std::isnan(a.y[0]));
    CHECK(!std::isnan(a.y[1]));
  }
}
