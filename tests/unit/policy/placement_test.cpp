// on<D>(...) and placement<D, ...>: parts of a graph pinned to devices by hand. The stages and
// programs it generates, and the equivalence of training with one device.
//
// Tolerance: as pipeline_test (gradients accumulated over micro-batches instead of one batch):
// 2e-5 relative for SGD, 1e-4 for Adam, 1e-6 absolute floor.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <plait/plait.hpp>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using test::max_relative_difference;

namespace {
// A preprocessing part on device 1 feeding the model on device 0 (the CPU-feeds-GPU shape).
// [docs:on]
constexpr auto scaled = input<6> >>
                        on<1>(layernorm >> linear<12> >> relu) >> on<0>(linear<8> >> plait::tanh >> linear<4>);
using scaled_graph = std::remove_const_t<decltype(scaled)>;
// [/docs:on]
// Three parts on devices 0, 2, 1; the unmarked relu belongs to the part before it.
constexpr auto three = input<6> >> on<0>(linear<10>) >> relu >> on<2>(linear<10> >> gelu) >> on<1>(linear<4>);
using three_graph = std::remove_const_t<decltype(three)>;

static_assert(std::is_same_v<output_shape_t<scaled_graph>, shape<4>>);
static_assert(placement<2>::stages<scaled_graph>[0].first == 0 && placement<2>::stages<scaled_graph>[0].last == 2);
static_assert(placement<2>::owned<scaled_graph>[1].first == 0 && placement<2>::owned<scaled_graph>[0].first == 2);
static_assert(placement<3>::stages<three_graph>[0].last == 2);  // linear<10> and the relu after it
static_assert(placement<3>::owned<three_graph>[2].first == 2 && placement<3>::owned<three_graph>[1].first == 3);
// Device 1 (the first part) sends its activations to device 0 and receives their gradient from it.
constexpr bool sends_to(const auto& program, std::int16_t peer) {
  for (const instruction& i : program)
    if (i.op == opcode::send && i.peer == peer) return true;
  return false;
}
static_assert(sends_to(placement<2>::programs<scaled_graph>[1], 0) &&
              sends_to(placement<2>::programs<scaled_graph>[0], 1));
static_assert(verify_messages(placement<3, microbatches<4>, one_f_one_b>::programs<three_graph>).kind == verdict::ok);

struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed) : x(n * 6), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-3, 5);
    for (auto& v : y) v = std::int32_t(rng.below(4));
  }
  samples<shape<6>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

template <class Policy, class Net, class Opt>
void check_equivalence(const Net& net, Opt opt, double tolerance) {
  constexpr std::size_t batch = 16;
  auto single = place(net, host_device(), {.max_batch = batch, .seed = 21});
  auto placed = place<Policy>(net, host_devices(Policy::device_count), {.max_batch = batch, .seed = 21});
  auto o1 = opt, o2 = opt;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const batch_set b(batch, 30 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    CHECK(placed.train_step(b.xs(), b.ys(), cross_entropy, o2) == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(max_relative_difference(placed.gather_parameters(), single.gather_parameters()) < tolerance);
  const batch_set t(placed.rows_per_call(), 3);
  const auto p1 = single.predict(t.xs());
  const std::vector<float> expected(p1.data, p1.data + t.y.size() * 4);
  CHECK(max_relative_difference({placed.predict(t.xs()).data, t.y.size() * 4}, expected) < tolerance);
}
}  // namespace

TEST_CASE_TEMPLATE("placement<D> trains as one device", P, placement<2>, placement<2, microbatches<4>, gpipe>,
                   placement<2, microbatches<4>, one_f_one_b>) {
  check_equivalence<P>(scaled, sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<P>(scaled, adam{.lr = 0.01f}, 1e-4);
}

TEST_CASE_TEMPLATE("placement<3>: parts on devices out of order", P, placement<3>,
                   placement<3, microbatches<4>, one_f_one_b>) {
  check_equivalence<P>(three, sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
}

TEST_CASE("each device holds only its part's parameters") {
  auto m = place<placement<2>>(scaled, host_devices(2), {.max_batch = 8});
  using L = graph_layout<scaled_graph>;
  CHECK(m.parameters(1).size() == L::param_offsets[2]);                         // layernorm, linear<12>
  CHECK(m.parameters(0).size() == L::param_buffer_size - L::param_offsets[2]);  // linear<8>, linear<4>
}
