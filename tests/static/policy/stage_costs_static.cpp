// policy/stage_costs.hpp: what a stage's forward and backward parts cost in the planned timelines.
// Compiling is the test.
#include <plait/graph/layout.hpp>
#include <plait/policy/stage_costs.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;
using test::same;

// resize<8> on 4 inputs: 2 * 4 * 8 = 64 FLOPs per sample, with parameters; same<0> on 8: 8, none;
// resize<2> on 8: 2 * 8 * 2 = 32, with parameters.
using G = std::remove_cvref_t<decltype(input<4> >> resize<8>{} >> same<0>{} >> resize<2>{})>;
using L = graph_layout<G>;
static_assert(L::layer_flops<>[0] == 64 && L::layer_flops<>[1] == 8 && L::layer_flops<>[2] == 32);

// One stage: the first layer passes no gradient on (B 0), the others do; the two with parameters
// have a weight part.
constexpr auto one = stage_costs<L>(std::array{stage_range{0, 3}});
static_assert(one[0].forward == 64 + 8 + 32 && one[0].input == 8 + 32 && one[0].weight == 64 + 32);
static_assert(one[0].backward() == one[0].input + one[0].weight && one[0].of(opcode::backward) == one[0].backward());
static_assert(one[0].of(opcode::backward_input) == 40 && one[0].of(opcode::backward_weight) == 96 &&
              one[0].of(opcode::forward) == 104 && one[0].of(opcode::send) == 0);

// Two stages, cut after same<0>: stage 0 has the first layer and same<0>, stage 1 the last layer.
constexpr auto two = stage_costs<L>(std::array{stage_range{0, 2}, stage_range{2, 3}});
static_assert(two[0].forward == 72 && two[0].input == 8 && two[0].weight == 64);
static_assert(two[1].forward == 32 && two[1].input == 32 && two[1].weight == 32);
}  // namespace
