// policy/pc_plan.hpp: every policy that can run predictive coding gets verified programs, in which
// every stage works in every iteration and only neighbours exchange. Compiling is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;
constexpr auto net = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<10> >> relu >> linear<4>;
using G = std::remove_cvref_t<decltype(net)>;

constexpr std::size_t count(const auto& p, opcode o) {
  std::size_t n = 0;
  for (const instruction& i : p) n += i.op == o;
  return n;
}

// pipeline<3>: per iteration each stage computes once and sends at most one message to each
// neighbour; the middle stage talks to both.
using three = pc_plan<plan_of<pipeline<3>, G>>;
static_assert(three::trainable);
constexpr auto& std3 = three::programs[std::size_t(pc_variant::standard)];
static_assert(count(std3[0].iteration, opcode::pc_errors) == 1 && count(std3[0].iteration, opcode::send) == 1 &&
              count(std3[0].iteration, opcode::recv) == 1);
static_assert(count(std3[1].iteration, opcode::send) == 2 && count(std3[1].iteration, opcode::recv) == 2);
static_assert(count(std3[2].iteration, opcode::send) == 1 && count(std3[2].iteration, opcode::pc_update) == 1);
// The opening forward streams in chunks: a forward per chunk, each chunk's activation received first.
static_assert(count(std3[2].start, opcode::forward) == pc_forward_chunks &&
              count(std3[2].start, opcode::recv) == pc_forward_chunks &&
              count(std3[2].tail, opcode::optimizer_step) == 1);
// Planned: the last stage's first errors wait for one chunk of the stages before, not their whole forward.
static_assert(three::planned_timeline<4>(pc_variant::standard).bubble_fraction() <
              three::planned_timeline<4>(pc_variant::standard, pc_chunk_rows).bubble_fraction());

// replicate<2, pipeline<2>>: the gradient reduction once per step, in the tail, never in an iteration.
using mesh = pc_plan<plan_of<replicate<2, pipeline<2>>, G>>;
constexpr auto& stdm = mesh::programs[std::size_t(pc_variant::standard)];
static_assert(count(stdm[3].iteration, opcode::all_reduce) == 0 && count(stdm[3].tail, opcode::all_reduce) >= 1);
// incremental: once per iteration instead
constexpr auto& incm = mesh::programs[std::size_t(pc_variant::incremental)];
static_assert(count(incm[3].iteration, opcode::all_reduce) >= 1 && count(incm[3].tail, opcode::all_reduce) == 0);

// replicate<2, shard_optimizer>: the reduce-scatter, update and all-gather, in the training program's order.
using sharded = pc_plan<plan_of<replicate<2, shard_optimizer>, G>>;
constexpr auto& tail = sharded::programs[0][1].tail;
static_assert(count(tail, opcode::reduce_scatter) >= 1 && count(tail, opcode::all_gather) >= 1);
}  // namespace
