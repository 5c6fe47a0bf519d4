// policy/stage_costs.hpp: what a stage's forward and backward parts cost in the planned timelines.
// Compiling is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;

// linear<8> on 4 inputs: 2 * 4 * 8 + 8 = 72 FLOPs per sample; dropout on 8: 16 (a layer without
// parameters that no linear fuses); linear<2> on 8: 2 * 8 * 2 + 2 = 34.
constexpr auto net = input<4> >> linear<8> >> dropout<0.5f> >> linear<2>;
using L = graph_layout<std::remove_const_t<decltype(net)>>;
static_assert(L::layer_flops<>[0] == 72 && L::layer_flops<>[2] == 34);

// One stage: the first linear passes no gradient on (B 0), the dropout and the last linear do; both
// linears have a weight part.
constexpr auto one = stage_costs<L>(std::array{stage_range{0, 3}});
static_assert(one[0].forward == 72 + 16 + 34 && one[0].input == 16 + 34 && one[0].weight == 72 + 34);
static_assert(one[0].backward() == one[0].input + one[0].weight && one[0].of(opcode::backward) == one[0].backward());
static_assert(one[0].of(opcode::backward_input) == 50 && one[0].of(opcode::backward_weight) == 106 &&
              one[0].of(opcode::send) == 0);

// Cut after the dropout: stage 0 has the first linear and the relu, stage 1 the last linear.
constexpr auto two = stage_costs<L>(std::array{stage_range{0, 2}, stage_range{2, 3}});
static_assert(two[0].forward == 88 && two[0].input == 16 && two[0].weight == 72);
static_assert(two[1].forward == 34 && two[1].input == 34 && two[1].weight == 34);

// The pipeline's planned timeline reads them: one micro-batch, stage 1 after stage 0 and back.
using P = pipeline<2, microbatches<1>, one_f_one_b>;
constexpr auto t = P::planned_timeline<std::remove_const_t<decltype(net)>>;
static_assert(t.step == 88 + 34 + (34 + 34) + (16 + 72));
}  // namespace
