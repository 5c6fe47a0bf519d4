// graph/cut.hpp: `cut` is a layer that marks a stage boundary and is otherwise a view. Compiling is
// the test.
#include <plait/graph/chain.hpp>
#include <plait/graph/cut.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;

static_assert(LayerSpec<cut_t> && BoundLayer<cut_t::bound<shape<8>>>);
using b = cut_t::bound<shape<2, 4>>;
static_assert(is_cut_v<b> && b::is_view && b::param_count == 0 && b::flops == 0);
static_assert(std::is_same_v<b::in_shape, shape<2, 4>> && std::is_same_v<b::out_shape, shape<2, 4>>);
static_assert(!is_cut_v<view_layer<shape<4>, shape<4>>> && !is_cut_v<test::same<0>::bound<shape<4>>>);
// In a graph the cut is a layer of its own: it does not change the shape.
constexpr auto net = input<4> >> test::resize<8>{} >> cut >> test::resize<2>{};
using net_t = std::remove_const_t<decltype(net)>;
static_assert(net_t::layer_count == 3 && std::is_same_v<type_at_t<1, net_t::layers>, cut_t>);
static_assert(std::is_same_v<output_shape_t<net_t>, shape<2>>);
}  // namespace
