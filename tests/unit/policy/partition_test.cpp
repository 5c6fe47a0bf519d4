// partition<N>: the roles it gives layers, the programs it generates, the planned parameter sizes,
// and the equivalence of tensor-parallel training with one device on 1 to 8 host devices.
//
// Tolerance: a row split sums N partial products where one device makes one GEMM over the whole
// inputs, and a column layer's input gradient is the sum of N partial GEMMs; the two differ by
// float reassociation only. Parameters after 4 steps agree to 2e-5 relative (1e-6 absolute floor)
// for SGD and 1e-4 for Adam (its update divides by sqrt(v), amplifying tiny gradient differences).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <plait/plait.hpp>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using test::max_relative_difference;

namespace {
// 840 divides by every N in 1..8, so one model serves them all.
// [docs:pairs]
constexpr auto pairs = input<10> >> linear<840> >> relu >> linear<12> >> plait::tanh >> linear<840> >> linear<7>;
using pairs_graph = std::remove_const_t<decltype(pairs)>;
// [/docs:pairs]
// A linear without a partner (before layernorm: gathered), and layers that run whole.
constexpr auto mixed = input<2, 3, 4> >> flatten >> linear<24> >> layernorm >> linear<12> >> gelu >> linear<6>;
using mixed_graph = std::remove_const_t<decltype(mixed)>;

// [docs:roles]
using role = split_role;
static_assert(partition<2>::roles<pairs_graph> == std::array{role::column, role::row, role::column, role::row});
// [/docs:roles]
static_assert(partition<1>::roles<pairs_graph> == std::array{role::whole, role::whole, role::whole, role::whole});
static_assert(partition<3>::roles<mixed_graph> ==
              std::array{role::whole, role::gathered, role::whole, role::column, role::row});
// A linear over a sequence runs whole; the vector linear after mean_pool is gathered (no partner).
using seq_graph = std::remove_const_t<decltype(input<5, 8> >> linear<8> >> mean_pool >> linear<4>)>;
static_assert(partition<2>::roles<seq_graph> == std::array{role::whole, role::whole, role::gathered});

// One all-reduce forward and one backward per pair (the first pair's column needs no input
// gradient), one all-gather for a lone linear; every device runs the same program.
template <class P, class G>
constexpr std::size_t count_ops(opcode op, message_kind kind) {
  std::size_t n = 0;
  for (const instruction& i : P::template programs<G>[0]) n += i.op == op && message_kind(i.buffer) == kind;
  return n;
}
static_assert(count_ops<partition<4>, pairs_graph>(opcode::all_reduce, message_kind::activation) == 2);
static_assert(count_ops<partition<4>, pairs_graph>(opcode::all_reduce, message_kind::gradient) == 1);
static_assert(count_ops<partition<4>, pairs_graph>(opcode::all_gather, message_kind::activation) == 0);
static_assert(count_ops<partition<3>, mixed_graph>(opcode::all_gather, message_kind::activation) == 1);
static_assert(count_ops<partition<3>, mixed_graph>(opcode::all_reduce, message_kind::gradient) == 2);
static_assert(partition<3>::programs<mixed_graph>[0] == partition<3>::programs<mixed_graph>[2]);
static_assert(verify_messages(partition<3>::programs<mixed_graph>));

// Planned parameters per device: 1/N of every split weight, the row layers' biases whole.
template <std::size_t N>
constexpr std::size_t device_parameters =
    graph_layout<typename partition<N>::template device_graph<pairs_graph>>::parameter_count;
static_assert(device_parameters<1> == graph_layout<pairs_graph>::parameter_count);
static_assert(device_parameters<2> ==
              (840 / 2) * 10 + 840 / 2 + 12 * (840 / 2) + 12 + (840 / 2) * 12 + 840 / 2 + 7 * (840 / 2) + 7);
static_assert(device_parameters<8> ==
              (840 / 8) * (10 + 1) + 12 * (840 / 8) + 12 + (840 / 8) * (12 + 1) + 7 * (840 / 8) + 7);

template <class Shape>
struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::size_t classes, std::uint64_t seed) : x(n * Shape::size), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(classes));
  }
  samples<Shape> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

template <std::size_t N, class Opt, class Net>
void check_equivalence(const Net& net, std::size_t classes, Opt opt, double tolerance) {
  using G = std::remove_const_t<Net>;
  using in = typename G::input_shape;
  constexpr std::size_t batch = 24;
  auto single = place(net, host_device(), {.max_batch = batch, .seed = 11});
  auto split = place<partition<N>>(net, host_devices(N), {.max_batch = batch, .seed = 11});
  CHECK(split.gather_parameters() == single.gather_parameters());  // initialised as one device, then split
  auto o1 = opt, o2 = opt;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const batch_set<in> b(batch - 3 * (s % 2), classes, 50 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = split.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(max_relative_difference(split.gather_parameters(), single.gather_parameters()) < tolerance);
  // Prediction runs on every device of the group together, and gives one device's outputs.
  const batch_set<in> t(batch, classes, 7);
  const auto p1 = single.predict(t.xs());
  const std::vector<float> expected(p1.data, p1.data + batch * classes);
  const auto p2 = split.predict(t.xs());
  CHECK(max_relative_difference({p2.data, batch * classes}, expected) < tolerance);
  CHECK(split.evaluate(t.xs(), t.ys(), cross_entropy).accuracy ==
        single.evaluate(t.xs(), t.ys(), cross_entropy).accuracy);
}
}  // namespace

TEST_CASE_TEMPLATE("partition<N> trains as one device: column-row pairs, SGD with momentum", N,
                   std::integral_constant<std::size_t, 1>, std::integral_constant<std::size_t, 2>,
                   std::integral_constant<std::size_t, 3>, std::integral_constant<std::size_t, 4>,
                   std::integral_constant<std::size_t, 5>, std::integral_constant<std::size_t, 6>,
                   std::integral_constant<std::size_t, 7>, std::integral_constant<std::size_t, 8>) {
  check_equivalence<N::value>(pairs, 7, sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
}

TEST_CASE_TEMPLATE("partition<N> trains as one device: a gathered linear and whole layers, Adam", N,
                   std::integral_constant<std::size_t, 2>, std::integral_constant<std::size_t, 3>,
                   std::integral_constant<std::size_t, 4>, std::integral_constant<std::size_t, 6>) {
  check_equivalence<N::value>(mixed, 6, adam{.lr = 0.01f}, 1e-4);
}

TEST_CASE("partition<2>: each device holds its blocks, and the executed trace shows the collectives") {
  auto m = place<partition<2>>(pairs, host_devices(2), {.max_batch = 8, .seed = 3});
  CHECK(m.parameters(0).size() == m.parameters(1).size());
  CHECK(m.parameters(0).size() < graph_layout<pairs_graph>::param_buffer_size * 6 / 10);
  // The blocks differ between devices (each has its own slice), the row biases do not.
  CHECK_FALSE(std::equal(m.parameters(0).begin(), m.parameters(0).end(), m.parameters(1).begin()));
  m.enable_trace();
  const batch_set<shape<10>> b(8, 7, 1);
  auto opt = sgd{.lr = 0.01f};
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  std::size_t reduces = 0;
  for (const trace_event& e : m.trace().events())
    reduces += std::string_view(e.name).starts_with("all_reduce") && e.row == trace_row::communication;
  CHECK(reduces == 2 * 3);  // two devices, two forward and one backward all-reduce each
}

TEST_CASE("partition<N> on fewer devices than N is a clear error") {
  CHECK_THROWS_WITH(place<partition<4>>(pairs, host_devices(2), {.max_batch = 8}),
                    doctest::Contains("partition needs 4 devices but place was given 2"));
}

// ---- element-wise layers between a pair ------------------------------------------------------
namespace {
// `linear<16> >> relu` fuses; the tanh after it is a layer of its own, element-wise, so between the
// pair it runs on each device's slice.
constexpr auto between = input<10> >> linear<16> >> relu >> plait::tanh >> linear<8> >> sigmoid >> gelu >> linear<8>;
using between_graph = std::remove_const_t<decltype(between)>;
static_assert(partition<2>::roles<between_graph> ==
              std::array{role::column, role::whole, role::row, role::whole, role::gathered});
static_assert(std::is_same_v<graph_layout<partition<2>::device_graph<between_graph>>::layer<1>::in_shape, shape<8>>);
// A layer that is not element-wise (layernorm) between them breaks the pair: the column is gathered.
using broken_graph = std::remove_const_t<decltype(input<10> >> linear<16> >> layernorm >> linear<8>)>;
static_assert(partition<2>::roles<broken_graph> == std::array{role::gathered, role::whole, role::gathered});
}  // namespace

TEST_CASE("partition<N>: element-wise layers between a pair run on the slices, as one device trains") {
  check_equivalence<2>(between, 8, sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<4>(between, 8, adam{.lr = 0.01f}, 1e-4);
}

// ---- branches on devices ----------------------------------------------------------------------
namespace {
// Two branches of different structure: under partition<2> each device runs one of them.
constexpr auto forked = input<10> >> linear<16> >> relu >>
                        concat(linear<12> >> plait::tanh >> linear<8>, linear<6> >> gelu) >> linear<6>;
using forked_graph = std::remove_const_t<decltype(forked)>;
constexpr auto three = input<9> >> add(linear<12> >> relu, linear<12> >> plait::tanh, linear<12>) >> relu >> linear<6>;
using three_graph = std::remove_const_t<decltype(three)>;
// The linears before and after the branches have no partner (gathered); three branches on two
// devices run whole.
static_assert(partition<2>::roles<forked_graph> == std::array{role::gathered, role::branch, role::gathered});
static_assert(partition<3>::roles<three_graph> == std::array{role::branch, role::whole, role::gathered});
static_assert(partition<2>::roles<three_graph> == std::array{role::whole, role::whole, role::gathered});
// A device holds only its branch (the largest branch's room).
static_assert(graph_layout<partition<3>::device_graph<three_graph>>::param_sizes[0] == 12 * 9 + 12);
}  // namespace

TEST_CASE("partition<N> runs the N branches of a concat or add on N devices, as one device trains") {
  check_equivalence<2>(forked, 6, sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<2>(forked, 6, adam{.lr = 0.01f}, 1e-4);
  check_equivalence<3>(three, 6, sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<2>(three, 6, sgd{.lr = 0.05f}, 2e-5);  // 3 branches on 2 devices: run whole
}
