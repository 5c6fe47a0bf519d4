// layers/sub_graph.hpp: a chain bound to an input, laid out in blocks of a composite layer: parameter,
// state and per-sample offsets, the gradient width, FLOPs. Compiling is the test (its forward and
// backward run in tests/unit/layers/branches_test.cpp).
#include <plait/graph/cut.hpp>
#include <plait/layers/sub_graph.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;
using test::same;

using chain3 = std::remove_cvref_t<decltype(resize<8>{} >> same<0>{} >> resize<3>{})>;
using s = sub_graph<shape<4>, chain3>;
static_assert(std::is_same_v<s::out_shape, shape<3>> && s::n == 3);
static_assert(std::is_same_v<s::layer<1>, same<0>::bound<shape<8>>>);
static_assert(s::param_at[0] == 0 && s::param_at[1] == 32 && s::param_at[2] == 32 && s::param_at[3] == 56 &&
              s::param_count == 56);
static_assert(s::state_count == 0);
// Per sample: each layer's output on 16 floats (and its saved floats), then two gradients of the width.
static_assert(s::out_at[1] == 16 && s::out_at[2] == 32 && s::out_at[3] == 48);
static_assert(s::width == 16 && s::saved_count == 48 + 2 * 16);
static_assert(s::flops == 2 * 4 * 8 + 8 + 2 * 8 * 3);

// A view keeps no output of its own.
using viewed = sub_graph<shape<4>, std::remove_cvref_t<decltype(resize<4>{} >> cut >> resize<2>{})>>;
static_assert(viewed::out_at[1] == 16 && viewed::out_at[2] == 16 && viewed::out_at[3] == 32);
// The width is the widest edge, the input included, on 16 floats.
static_assert(sub_graph<shape<40>, std::remove_cvref_t<decltype(resize<2>{} >> same<0>{})>>::width == 48);
}  // namespace
