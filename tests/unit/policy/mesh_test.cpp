// policy/mesh.hpp, replicate<D, Inner>: device meshes. The composed programs, their compile-time
// verification (including collectives of each group), and the equivalence with one device of
// replicate<D, pipeline<P, ...>> and replicate<D, partition<T>> on up to 8 host devices (the
// check is in mesh_equivalence.hpp; pipelines of tensor-parallel stages are in
// pipeline_partition_test.cpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <plait/plait.hpp>
#include <vector>

#include "mesh_equivalence.hpp"

using namespace plait;
using test::mesh::check_equivalence;
using test::mesh::mlp;

namespace {
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
                                                           {fwd, tp_reduce, dp_reduce, step}}})
                  .kind == verdict::ok);
static_assert(verify_mesh<2, 2>(std::array<program<4>, 4>{{{fwd, tp_reduce, dp_reduce, step},
                                                           {fwd, tp_gather, dp_reduce, step},
                                                           {fwd, tp_reduce, dp_reduce, step},
                                                           {fwd, tp_reduce, dp_reduce, step}}})
                  .kind == verdict::mismatch);
constexpr instruction send_to_1{.op = opcode::send, .peer = 1}, recv_from_0{.op = opcode::recv, .peer = 0};
// Device 1 waits in the data-parallel all-reduce for device 3, which waits for a message device 2
// sends only after its own all-reduce, which waits for device 0 ... that never sends: a deadlock.
static_assert(verify_mesh<2>(std::array<program<3>, 4>{{{dp_reduce, send_to_1, step},
                                                        {recv_from_0, dp_reduce, step},
                                                        {dp_reduce, send_to_1, step},
                                                        {recv_from_0, dp_reduce, step}}})
                  .kind == verdict::ok);
static_assert(verify_mesh<2>(std::array<program<3>, 4>{{{recv_from_0, dp_reduce, step},
                                                        {dp_reduce, send_to_1, step},
                                                        {recv_from_0, dp_reduce, step},
                                                        {dp_reduce, send_to_1, step}}})
                  .kind != verdict::ok);

}  // namespace

TEST_CASE_TEMPLATE("replicate<D, pipeline<P, ...>> trains as one device", P,
                   replicate<2, pipeline<2, microbatches<2>, gpipe>>,
                   replicate<2, pipeline<2, microbatches<3>, one_f_one_b>>,
                   replicate<3, pipeline<2, microbatches<2>, one_f_one_b>>,
                   replicate<2, pipeline<4, microbatches<3>, one_f_one_b>>,
                   replicate<4, pipeline<2, microbatches<3>, gpipe>>, replicate<2, pipeline<2, microbatches<4>, zb_h1>>,
                   replicate<2, pipeline<3, microbatches<6>, zb_h1>>) {
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4);
}

TEST_CASE_TEMPLATE("replicate<D, pipeline<P, M, chunked>> trains as one device, its stages taking turns", P,
                   replicate<2, pipeline<2, microbatches<4>, interleaved_1f1b<2>>>,
                   replicate<2, pipeline<2, microbatches<4>, zb_v>>) {
  static_assert(plan_of<P, graph>::takes_turns && plan_of<P, graph>::physical_device_count == 4 &&
                plan_of<P, graph>::device_count == 8);
  static_assert(plan_of<P, graph>::device_of[4] == 2);  // replica 1's first stage on its first device
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4);
}

TEST_CASE("replicate<D, pipeline<P, M, zb_h1>> trains bit for bit as the same mesh with 1F1B") {
  using zb = replicate<2, pipeline<2, microbatches<4>, zb_h1>>;
  using ofob = replicate<2, pipeline<2, microbatches<4>, one_f_one_b>>;
  static_assert(plan_of<zb, graph>::splits_backward && !plan_of<ofob, graph>::splits_backward);
  CHECK(test::same_bits<zb, ofob, mlp>(24));
}

TEST_CASE_TEMPLATE("replicate<D, partition<T>> trains as one device", P, replicate<2, partition<2>>,
                   replicate<3, partition<2>>, replicate<2, partition<4>>, replicate<4, partition<2>>,
                   replicate<1, partition<2>>) {
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4);
}

TEST_CASE("a mesh needs D x I devices, and its sampler splits for the D replicas") {
  CHECK_THROWS_WITH(place<dp_pp>(mlp, host_devices(3), {.max_batch = 8}),
                    doctest::Contains("needs 4 devices but place was given 3"));
  auto m = place<dp_tp>(mlp, host_devices(4), {.max_batch = 8});
  CHECK(m.sampler(10, {.global_batch = 4}).replicas() == 2);
}
