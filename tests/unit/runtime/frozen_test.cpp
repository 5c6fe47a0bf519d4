// Frozen layers (graph/frozen.hpp): their parameters stay, they keep no optimizer state, their
// gradients are not communicated (fewer bytes in replicate's buckets), and the other layers train
// as without the mark, under every policy.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "../policy/equivalence.hpp"

using namespace plait;

namespace {
constexpr auto plain = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<4>;
// [docs:frozen]
constexpr auto head_only = input<8> >> frozen(linear<16> >> relu) >> linear<12> >> plait::tanh >> linear<4>;
// [/docs:frozen]
constexpr auto middle = input<8> >> linear<16> >> relu >> frozen(linear<12>) >> plait::tanh >> linear<4>;

template <auto Net>
using layout_of = graph_layout<test::graph_of<Net>>;

// Floats of gradient replicate<2>'s buckets communicate per step.
template <auto Net>
constexpr std::size_t bucket_floats() {
  std::size_t n = 0;
  for (const bucket& b :
       plan_of<replicate<2, buckets<bucket_plan{.bytes = 256, .first_bytes = 128}>>, test::graph_of<Net>>::buckets)
    n += b.size;
  return n;
}

// Whether layer I's parameters in `after` equal those in `before`.
template <auto Net, std::size_t I>
bool layer_kept(const std::vector<float>& after, const std::vector<float>& before) {
  using L = layout_of<Net>;
  for (std::size_t i = L::param_offsets[I]; i < L::param_offsets[I] + L::param_sizes[I]; ++i)
    if (after[i] != before[i]) return false;
  return true;
}
}  // namespace

TEST_CASE("frozen marks the layers of its argument; the buckets leave their gradients out") {
  // linear<16> >> relu fuse into one layer, frozen whole; a frozen linear<12> does not fuse with tanh.
  static_assert(layout_of<head_only>::layer_count == 3 && layout_of<middle>::layer_count == 4);
  static_assert(frozen_layers<layout_of<head_only>>[0] && !frozen_layers<layout_of<head_only>>[1]);
  static_assert(frozen_layers<layout_of<middle>>[1] && !frozen_layers<layout_of<middle>>[0]);
  static_assert(!frozen_layers<layout_of<middle>>[2] && !frozen_layers<layout_of<middle>>[3]);
  static_assert(!any_frozen<layout_of<plain>> && any_frozen<layout_of<middle>>);
  static_assert(layout_of<head_only>::parameter_count == layout_of<plain>::parameter_count);  // still there
  // The first linear's gradients (8 * 16 + 16 floats) are not communicated; nor the middle's (16 * 12 + 12).
  constexpr std::size_t all = bucket_floats<plain>();
  CHECK(all >= layout_of<plain>::parameter_count);
  CHECK(bucket_floats<head_only>() == all - (layout_of<plain>::param_offsets[1] - layout_of<plain>::param_offsets[0]));
  CHECK(bucket_floats<middle>() == all - (layout_of<plain>::param_offsets[2] - layout_of<plain>::param_offsets[1]));
  CHECK(bucket_floats<middle>() < all);
  // Under a mesh the data-parallel all-reduce carries the trainable runs only (executor.hpp).
  constexpr auto runs = trainable_runs<layout_of<middle>>(0, layout_of<middle>::layer_count);
  static_assert(runs.count == 2 && runs.r[0].offset == 0);
}

TEST_CASE("a frozen layer keeps its parameters and no optimizer state; the others train as without the mark") {
  auto frozen_model = place(middle, host_device(), {.max_batch = 16, .seed = 4});
  auto plain_model = place(plain, host_device(), {.max_batch = 16, .seed = 4});
  const auto before = frozen_model.gather_parameters();  // layers are seeded by index: copy them over
  plain_model.set_parameters(before);
  REQUIRE(plain_model.gather_parameters() == before);
  const test::batch_set<plain> b(16, 8);
  sgd o{.lr = 0.1f};  // one step without momentum: the trainable layers get exactly the unfrozen step
  frozen_model.train_step(b.xs(), b.ys(), cross_entropy, o);
  plain_model.train_step(b.xs(), b.ys(), cross_entropy, o);
  const auto after = frozen_model.gather_parameters(), reference = plain_model.gather_parameters();
  static_assert(layout_of<middle>::param_offsets[3] == layout_of<plain>::param_offsets[2]);  // tanh has none
  CHECK(layer_kept<middle, 1>(after, before));
  CHECK(!layer_kept<plain, 1>(reference, before));
  // The trainable layers took the unfrozen step (linear<12> >> tanh fused there, two layers here).
  CHECK(test::max_relative_difference(after, reference) > 0.0);
  std::vector<float> expected = reference;
  constexpr std::size_t from = layout_of<middle>::param_offsets[1], to = layout_of<middle>::param_offsets[3];
  std::copy(before.begin() + from, before.begin() + to, expected.begin() + from);  // the frozen layer as it was
  CHECK(test::max_relative_difference(after, expected) < 1e-6);
  // Adam keeps two floats per trainable parameter only.
  adam a{};
  frozen_model.train_step(b.xs(), b.ys(), cross_entropy, a);
  plain_model.train_step(b.xs(), b.ys(), cross_entropy, a);
  CHECK(frozen_model.optimizer_bytes() < plain_model.optimizer_bytes());
  CHECK(frozen_model.optimizer_bytes() >= 2 * sizeof(float) * (layout_of<plain>::parameter_count - 16 * 12 - 12));
  CHECK(layer_kept<middle, 1>(frozen_model.gather_parameters(), before));
}

TEST_CASE("a model with frozen layers trains under every policy as on one device") {
  test::check_model<replicate<2, buckets<bucket_plan{.bytes = 256, .first_bytes = 128}>>, middle>(16, 0);
  test::check_model<replicate<2, shard_optimizer, buckets<bucket_plan{.bytes = 256, .first_bytes = 128}>>, head_only>(
      16, 0);
  test::check_model<pipeline<2, microbatches<2>>, middle>(16, 0);
  test::check_model<partition<2>, head_only>(16, 0);
  test::check_model<replicate<2, pipeline<2, microbatches<2>>>, middle>(16, 0);
  test::check_model<replicate<2, pipeline<2, microbatches<2>>>, head_only>(16, 0);
  auto m = place<replicate<2, pipeline<2, microbatches<2>>>>(head_only, host_devices(4), {.max_batch = 16, .seed = 4});
  const auto before = m.gather_parameters();
  const test::batch_set<head_only> b(16, 8);
  adam a{};
  m.guard_steps({.max_norm = 0.1f});
  m.train_step(b.xs(), b.ys(), cross_entropy, a);
  CHECK(layer_kept<head_only, 0>(m.gather_parameters(), before));
  CHECK(!layer_kept<head_only, 1>(m.gather_parameters(), before));
}

TEST_CASE("the gradient norm of a model with frozen layers counts the trainable parameters only, under every policy") {
  const test::batch_set<head_only> b(16, 8);
  auto plain_model = place(plain, host_device(), {.max_batch = 16, .seed = 4});
  auto single = place(head_only, host_device(), {.max_batch = 16, .seed = 4});
  plain_model.set_parameters(single.gather_parameters());
  sgd o{.lr = 0.1f};
  plain_model.train_step(b.xs(), b.ys(), cross_entropy, o);
  double square = 0;  // the unfrozen model's gradient, without the first layer's
  const auto g = plain_model.gradients();
  for (std::size_t i = layout_of<plain>::param_offsets[1]; i < g.size(); ++i) square += double(g[i]) * g[i];
  single.guard_steps({.max_norm = 1e6f});
  single.train_step(b.xs(), b.ys(), cross_entropy, o);
  CHECK(single.gradient_norm() == doctest::Approx(std::sqrt(square)).epsilon(1e-6));
  const auto norm_under = [&]<class P>() {
    auto m = place<P>(head_only, host_devices(P::device_count), {.max_batch = 16, .seed = 4});
    m.guard_steps({.max_norm = 1e6f});
    m.train_step(b.xs(), b.ys(), cross_entropy, o);
    return m.gradient_norm();
  };
  CHECK(norm_under.template operator()<replicate<2>>() == doctest::Approx(single.gradient_norm()).epsilon(1e-5));
  CHECK(norm_under.template operator()<partition<2>>() == doctest::Approx(single.gradient_norm()).epsilon(1e-5));
  CHECK(norm_under.template operator()<replicate<2, pipeline<2, microbatches<2>>>>() ==
        doctest::Approx(single.gradient_norm()).epsilon(1e-5));
}

TEST_CASE("the programs' byte count: a frozen layer's gradient is not communicated, under replicate and a mesh") {
  using L = layout_of<plain>;
  constexpr std::size_t first = L::param_offsets[1] - L::param_offsets[0];  // the first layer's floats, padded
  using dp = replicate<2, buckets<bucket_plan{.bytes = 256, .first_bytes = 128}>>;
  constexpr std::size_t all = gradient_bytes<plan_of<dp, test::graph_of<plain>>>(0);
  static_assert(all == sizeof(float) * bucket_floats<plain>());
  static_assert(gradient_bytes<plan_of<dp, test::graph_of<head_only>>>(0) == all - sizeof(float) * first);
  using mesh = replicate<2, pipeline<2, microbatches<2>>>;
  constexpr std::size_t stage0 = gradient_bytes<plan_of<mesh, test::graph_of<plain>>>(0);
  static_assert(stage0 > 0 && gradient_bytes<plan_of<mesh, test::graph_of<head_only>>>(0) < stage0);
  // Stage 1 holds no frozen layer: the same floats, but runs leave out the alignment padding after the last layer.
  constexpr std::size_t stage1 = gradient_bytes<plan_of<mesh, test::graph_of<plain>>>(1);
  static_assert(gradient_bytes<plan_of<mesh, test::graph_of<head_only>>>(1) <= stage1);
  static_assert(gradient_bytes<plan_of<mesh, test::graph_of<head_only>>>(1) + 16 * sizeof(float) > stage1);
  MESSAGE("bytes of gradient per step under replicate<2>: ", all, " unfrozen, ",
          gradient_bytes<plan_of<dp, test::graph_of<head_only>>>(0), " with the first layer frozen");
  CHECK(gradient_bytes<plan_of<single_device, test::graph_of<plain>>>(0) == 0);
}
