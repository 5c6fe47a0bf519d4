// replicate<D, Inner>: device meshes. The composed programs, their compile-time verification
// (including collectives of each group), and the equivalence with one device of
// replicate<D, pipeline<P, ...>> and replicate<D, partition<T>> on up to 8 host devices.
//
// Tolerance: as replicate_test and partition_test (float reassociation of the sums over replicas,
// micro-batches and shards): 2e-5 relative for SGD, 1e-4 for Adam, 1e-6 absolute floor.
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
using role = split_role;
constexpr auto mlp = input<12> >> linear<24> >> relu >> linear<16> >> plait::tanh >> linear<8> >> linear<5>;
using graph = std::remove_const_t<decltype(mlp)>;

// ---- what a mesh generates ----------------------------------------------------------------------
using dp_pp = replicate<2, pipeline<2, microbatches<2>, one_f_one_b>>;
using dp_tp = replicate<2, partition<2>>;
static_assert(dp_pp::device_count == 4 && dp_pp::data_parallel_degree == 2 && dp_pp::microbatch_count == 2);
static_assert(dp_tp::device_count == 4 && dp_tp::tensor_parallel_degree == 2);
static_assert(dp_pp::owned<graph>[0].first == dp_pp::owned<graph>[2].first);  // the same stage in both replicas
static_assert(dp_pp::owned<graph>[1].first == dp_pp::owned<graph>[3].first);
static_assert(dp_pp::replica_of<graph>(1) == 0 && dp_pp::replica_of<graph>(2) == 1);
static_assert(dp_pp::check<graph>.kind == verdict::ok && dp_tp::check<graph>.kind == verdict::ok);

// The data-parallel all-reduce sits right before the optimizer step, on the data-parallel group.
template <class P>
constexpr bool reduces_before_step() {
  for (const auto& p : P::template programs<graph>)
    for (std::size_t k = 0; k + 1 < p.size(); ++k)
      if (p[k + 1].op == opcode::optimizer_step)
        return p[k].op == opcode::all_reduce && p[k].peer == std::int16_t(collective_group::data_parallel) &&
               p[k].buffer == whole_gradient;
  return false;
}
static_assert(reduces_before_step<dp_pp>() && reduces_before_step<dp_tp>());

// The verifier catches collectives that disagree within a group, and a collective that deadlocks
// against a receive; the programs are otherwise those of a 2 x 2 mesh.
constexpr instruction fwd{.op = opcode::forward}, step{.op = opcode::optimizer_step};
constexpr instruction dp_reduce{.op = opcode::all_reduce, .peer = 1, .buffer = whole_gradient};
constexpr instruction tp_reduce{.op = opcode::all_reduce, .stage = 1, .peer = 0, .buffer = 0};
constexpr instruction tp_gather{.op = opcode::all_gather, .stage = 1, .peer = 0, .buffer = 0};
static_assert(verify_mesh<2, 2>(std::array<program<4>, 4>{{{fwd, tp_reduce, dp_reduce, step},
                                                        {fwd, tp_reduce, dp_reduce, step},
                                                        {fwd, tp_reduce, dp_reduce, step},
                                                        {fwd, tp_reduce, dp_reduce, step}}}).kind == verdict::ok);
static_assert(verify_mesh<2, 2>(std::array<program<4>, 4>{{{fwd, tp_reduce, dp_reduce, step},
                                                        {fwd, tp_gather, dp_reduce, step},
                                                        {fwd, tp_reduce, dp_reduce, step},
                                                        {fwd, tp_reduce, dp_reduce, step}}}).kind == verdict::mismatch);
constexpr instruction send_to_1{.op = opcode::send, .peer = 1}, recv_from_0{.op = opcode::recv, .peer = 0};
// Device 1 waits in the data-parallel all-reduce for device 3, which waits for a message device 2
// sends only after its own all-reduce, which waits for device 0 ... that never sends: a deadlock.
static_assert(verify_mesh<2>(std::array<program<3>, 4>{{{dp_reduce, send_to_1, step},
                                                        {recv_from_0, dp_reduce, step},
                                                        {dp_reduce, send_to_1, step},
                                                        {recv_from_0, dp_reduce, step}}}).kind == verdict::ok);
static_assert(verify_mesh<2>(std::array<program<3>, 4>{{{recv_from_0, dp_reduce, step},
                                                        {dp_reduce, send_to_1, step},
                                                        {recv_from_0, dp_reduce, step},
                                                        {dp_reduce, send_to_1, step}}}).kind != verdict::ok);

// ---- equivalence ----------------------------------------------------------------------------------
struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed) : x(n * 12), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(5));
  }
  samples<shape<12>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

const batch_set& b_eval() {
  static const batch_set b(40, 99);
  return b;
}

template <class Policy, class Opt, class Net = decltype(mlp)>
void check_equivalence(Opt opt, double tolerance, Net net = mlp) {
  constexpr std::size_t batch = 24;
  auto single = place(net, host_device(), {.max_batch = batch, .seed = 13});
  auto mesh = place<Policy>(net, host_devices(Policy::device_count), {.max_batch = batch, .seed = 13});
  auto o1 = opt, o2 = opt;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const batch_set b(batch, 70 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = mesh.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(max_relative_difference(mesh.gather_parameters(), single.gather_parameters()) < tolerance);
  // Devices of equal inner rank hold bitwise the same parameters.
  if constexpr (requires { Policy::inner_device_count; }) {
    constexpr std::size_t I = Policy::inner_device_count;
    for (std::size_t d = I; d < Policy::device_count; ++d)
      CHECK(std::ranges::equal(mesh.parameters(d), mesh.parameters(d % I)));
  }
  // Prediction in chunks of what one device's activations hold (a replica's micro-batch).
  const std::size_t n = mesh.rows_per_call();
  const batch_set t(n, 5);
  const auto p1 = single.predict(t.xs());
  const std::vector<float> expected(p1.data, p1.data + n * 5);
  CHECK(max_relative_difference({mesh.predict(t.xs()).data, n * 5}, expected) < tolerance);
  CHECK(mesh.evaluate(b_eval().xs(), b_eval().ys(), cross_entropy).loss ==
        doctest::Approx(single.evaluate(b_eval().xs(), b_eval().ys(), cross_entropy).loss).epsilon(1e-4));
}
}  // namespace

TEST_CASE_TEMPLATE("replicate<D, pipeline<P, ...>> trains as one device", P,
                   replicate<2, pipeline<2, microbatches<2>, gpipe>>, replicate<2, pipeline<2, microbatches<3>, one_f_one_b>>,
                   replicate<3, pipeline<2, microbatches<2>, one_f_one_b>>, replicate<2, pipeline<4, microbatches<3>, one_f_one_b>>,
                   replicate<4, pipeline<2, microbatches<3>, gpipe>>) {
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4);
}

TEST_CASE_TEMPLATE("replicate<D, partition<T>> trains as one device", P, replicate<2, partition<2>>,
                   replicate<3, partition<2>>, replicate<2, partition<4>>, replicate<4, partition<2>>,
                   replicate<1, partition<2>>) {
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4);
}

// A pipeline of tensor-parallel stages: outputs that divide by 2 wherever the cut falls.
constexpr auto even = input<12> >> linear<24> >> relu >> linear<16> >> plait::tanh >> linear<8> >> linear<6>;
using even_graph = std::remove_const_t<decltype(even)>;
// [docs:pp_tp]
using pp_tp = pipeline<2, microbatches<2>, one_f_one_b, partition<2>>;  // 2 stages x 2 shards = 4 devices
// [/docs:pp_tp]
static_assert(pp_tp::device_count == 4 && pp_tp::check<even_graph>.kind == verdict::ok);
static_assert(pp_tp::owned<even_graph>[0].first == 0 && pp_tp::owned<even_graph>[1].first == 0);  // shards of stage 0
static_assert(pp_tp::owned<even_graph>[2].first == pp_tp::owned<even_graph>[0].last);
// The cut falls after the first linear (balanced FLOPs): it is gathered in stage 0, and stage 1 holds
// a column-row pair and a gathered linear, so both stages exchange on their tensor groups.
static_assert(pp_tp::plan<even_graph>::roles == std::array{role::gathered, role::column, role::row, role::gathered});
constexpr std::size_t exchanges(const auto& program) {
  std::size_t n = 0;
  for (const instruction& i : program)
    n += (i.op == opcode::all_reduce || i.op == opcode::all_gather) && i.peer == std::int16_t(collective_group::inner);
  return n;
}
static_assert(exchanges(pp_tp::programs<even_graph>[0]) == 2 * 1);      // per micro-batch: the gather
static_assert(exchanges(pp_tp::programs<even_graph>[3]) == 2 * 4);      // gather, row sum, column grad, first grad
// Every pair of partition<2> inside a stage; none straddles the cut.
static_assert(replicate<2, pp_tp>::check<even_graph>.kind == verdict::ok);

TEST_CASE_TEMPLATE("pipeline<P, M, Schedule, partition<T>> and replicate<D, ...> of it train as one device", P,
                   pipeline<2, microbatches<1>, gpipe, partition<2>>, pipeline<2, microbatches<2>, gpipe, partition<2>>,
                   pipeline<2, microbatches<4>, one_f_one_b, partition<2>>, pipeline<3, microbatches<3>, one_f_one_b, partition<2>>,
                   replicate<2, pipeline<2, microbatches<2>, one_f_one_b, partition<2>>>) {
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5, even);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4, even);
}

TEST_CASE("a mesh needs D x I devices, and its sampler splits for the D replicas") {
  CHECK_THROWS_WITH(place<dp_pp>(mlp, host_devices(3), {.max_batch = 8}), doctest::Contains("needs 4 devices but place was given 3"));
  auto m = place<dp_tp>(mlp, host_devices(4), {.max_batch = 8});
  CHECK(m.sampler(10, {.global_batch = 4}).replicas() == 2);
}
