// The parameters of a placed model in and out (runtime/parameter_io.hpp), whatever the policy split:
// set_parameters then gather_parameters gives the same floats back, every device that holds a
// parameter gets it, and misuse is a plait error.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <numeric>
#include <plait/plait.hpp>
#include <vector>

#include "policy/equivalence.hpp"

using namespace plait;

namespace {
constexpr auto mlp = input<6> >> linear<8> >> relu >> linear<8> >> plait::tanh >> linear<4>;

using layout = graph_layout<std::remove_cvref_t<decltype(mlp)>>;

/// A distinct value for every parameter of the flat layout; its alignment padding stays zero.
std::vector<float> numbered() {
  std::vector<float> v(layout::param_buffer_size, 0.0f);
  for (std::size_t l = 0; l < layout::layer_count; ++l)
    for (std::size_t i = 0; i < layout::param_sizes[l]; ++i)
      v[layout::param_offsets[l] + i] = 0.001f * float(layout::param_offsets[l] + i) - 0.3f;
  return v;
}
}  // namespace

TEST_CASE_TEMPLATE("set_parameters reaches every holder and gather_parameters reads it back", Policy, single_device,
                   replicate<2>, replicate<2, shard_optimizer>, pipeline<3, microbatches<2>>, partition<2>,
                   replicate<2, pipeline<2, microbatches<2>>>, replicate<2, partition<2>>,
                   pipeline<2, microbatches<2>, gpipe, partition<2>>) {
  auto m = place<Policy>(mlp, host_devices(Policy::device_count), {.max_batch = 8, .seed = 3});
  const std::vector<float> whole = numbered();
  REQUIRE(m.gather_parameters().size() == whole.size());
  m.set_parameters(whole);
  CHECK(m.gather_parameters() == whole);
  // A model set so predicts as one device set alike: every copy and every shard was written.
  auto single = place(mlp, host_device(), {.max_batch = 8, .seed = 99});
  single.set_parameters(whole);
  const test::batch_set<mlp> b(8, 4);
  const std::vector<float> expected(single.predict(b.xs()).data, single.predict(b.xs()).data + 8 * 4);
  CHECK(test::max_relative_difference({m.predict(b.xs()).data, 8 * 4}, expected) < 1e-6);
  // and trains alike from there
  auto o1 = sgd{.lr = 0.1f}, o2 = o1;
  CHECK(m.train_step(b.xs(), b.ys(), cross_entropy, o1) ==
        doctest::Approx(single.train_step(b.xs(), b.ys(), cross_entropy, o2)));
}

TEST_CASE("layer_parameters written on one device reach every replica before the next step") {
  auto m = place<replicate<2>>(mlp, host_devices(2), {.max_batch = 8});
  auto w = m.layer_parameters<1>();
  std::fill(w.begin(), w.end(), 0.25f);
  const test::batch_set<mlp> b(8, 4);
  m.predict(b.xs());
  CHECK(std::ranges::equal(m.parameters(0), m.parameters(1)));
}

TEST_CASE("misuse of the parameter calls is a plait error") {
  auto m = place<replicate<2>>(mlp, host_devices(2), {.max_batch = 8});
  CHECK_THROWS_WITH_AS(m.parameters(2), doctest::Contains("plait: parameters(2) is asked of a model with 2 devices"),
                       plait::error);
  CHECK_THROWS_WITH_AS(m.gradients(5), doctest::Contains("plait: gradients(5) is asked of a model with 2 devices"),
                       plait::error);
  CHECK_THROWS_WITH_AS(m.planned_bytes(2), doctest::Contains("plait: planned_bytes(2)"), plait::error);
  const std::vector<float> short_(3);
  CHECK_THROWS_WITH_AS(m.set_parameters(short_), doctest::Contains("plait: set_parameters is given 3 floats"),
                       plait::error);
  CHECK(m.parameters(1).size() == layout::param_buffer_size);  // a replica holds the whole layout
}
