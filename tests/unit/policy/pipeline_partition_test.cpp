// policy/pipeline_partition.hpp, pipeline<S, microbatches<M>, Schedule, partition<T>>: a pipeline
// of tensor-parallel stages. Its stages and roles, its exchanges, its compile-time verification, and
// its equivalence with one device, alone and as the inner group of replicate<D, ...> (the check is in
// mesh_equivalence.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <plait/plait.hpp>

#include "mesh_equivalence.hpp"

using namespace plait;
using test::mesh::check_equivalence;

namespace {
using role = split_role;
}  // namespace

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
static_assert(exchanges(pp_tp::programs<even_graph>[0]) == 2 * 1);  // per micro-batch: the gather
static_assert(exchanges(pp_tp::programs<even_graph>[3]) == 2 * 4);  // gather, row sum, column grad, first grad
// Every pair of partition<2> inside a stage; none straddles the cut.
static_assert(replicate<2, pp_tp>::check<even_graph>.kind == verdict::ok);

TEST_CASE_TEMPLATE("pipeline<P, M, Schedule, partition<T>> and replicate<D, ...> of it train as one device", P,
                   pipeline<2, microbatches<1>, gpipe, partition<2>>, pipeline<2, microbatches<2>, gpipe, partition<2>>,
                   pipeline<2, microbatches<4>, one_f_one_b, partition<2>>,
                   pipeline<3, microbatches<3>, one_f_one_b, partition<2>>,
                   replicate<2, pipeline<2, microbatches<2>, one_f_one_b, partition<2>>>) {
  check_equivalence<P>(sgd{.lr = 0.05f, .momentum = 0.9f}, 2e-5, even);
  check_equivalence<P>(adam{.lr = 0.01f}, 1e-4, even);
}
