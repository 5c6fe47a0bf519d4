// graph/on.hpp: on<D>(f) marks each layer of f with device D, leaving the layer as it was. Compiling
// is the test.
#include <plait/graph/chain.hpp>
#include <plait/graph/on.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;
using test::same;

// One layer, and a sub-graph: every layer marked.
static_assert(std::is_same_v<decltype(on<1>(resize<4>{})), chain<no_input, on_t<1, resize<4>>>>);
static_assert(
    std::is_same_v<decltype(on<2>(resize<4>{} >> same<0>{})), chain<no_input, on_t<2, resize<4>>, on_t<2, same<0>>>>);

// The marked layer binds as the layer does, with its device.
using b = on_t<3, resize<4>>::bound<shape<5>>;
static_assert(LayerSpec<on_t<3, resize<4>>> && BoundLayer<b>);
static_assert(b::param_count == 20 && std::is_same_v<b::out_shape, shape<4>> && b::device == 3);
static_assert(pinned_device_of<b> == 3 && pinned_device_of<resize<4>::bound<shape<5>>> == unpinned);
static_assert(pinned_device_of<on_t<cpu, same<0>>::bound<shape<2>>> == cpu && cpu != unpinned);

// In a graph: input >> on<1>(...) >> on<0>(...).
constexpr auto net = input<5> >> on<1>(resize<4>{}) >> on<0>(same<0>{} >> resize<2>{});
using net_t = std::remove_const_t<decltype(net)>;
static_assert(std::is_same_v<net_t, chain<shape<5>, on_t<1, resize<4>>, on_t<0, same<0>>, on_t<0, resize<2>>>>);
static_assert(std::is_same_v<output_shape_t<net_t>, shape<2>>);
}  // namespace
