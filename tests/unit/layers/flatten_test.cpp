#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <plait/plait.hpp>
#include <vector>

using namespace plait;

TEST_CASE("flatten is a view: output shape is the sample size, no memory, no parameters") {
  using B = flatten_t::bound<shape<1, 28, 28>>;
  static_assert(std::is_same_v<B::out_shape, shape<784>>);
  static_assert(B::is_view && B::param_count == 0);
  using L = graph_layout<decltype(input<2, 3> >> flatten >> linear<4>)>;
  static_assert(L::activation_floats_per_sample == 4);
  CHECK(L::out_sizes[0] == 6);
}

TEST_CASE("a model starting with flatten reads the input in place") {
  constexpr auto net = input<2, 3> >> flatten >> linear<2>;
  auto m = place(net, host_device(), {.max_batch = 2});
  auto w = m.layer_parameters<1>();
  std::fill(w.begin(), w.end(), 0.0f);
  w[0] = 1;      // y0 = x[0]
  w[6 + 5] = 2;  // y1 = 2 x[5]
  const std::vector<float> x{1, 2, 3, 4, 5, 6, /**/ -1, 0, 0, 0, 0, 1};
  auto y = m.predict({x.data(), 2});
  CHECK(std::vector<float>(y.data, y.data + 4) == std::vector<float>{1, 12, -1, 2});
}
