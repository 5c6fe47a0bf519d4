// graph/host_stage_layers.hpp: the host stage is the graph's leading on<cpu> layers: its size, whether the
// marks lead, whether it is untrained, and the width it hands over. Compiling is the test.
#include <plait/graph/host_stage_layers.hpp>
#include <plait/graph/layout.hpp>
#include <plait/graph/on.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;
using test::same;

template <class G>
using prefix = host_stage_layers<graph_layout<std::remove_cvref_t<G>>>;

// Two parameterless layers on the host, then the devices' layers.
using host2 = prefix<decltype(input<6> >> on<cpu>(same<0>{} >> same<1>{}) >> resize<4>{} >> resize<2>{})>;
static_assert(host2::size == 2 && host2::leading && host2::untrained && host2::out_width == 6);
static_assert(host2::marks[0] && host2::marks[1] && !host2::marks[2] && !host2::marks[3]);

// No host stage: the input's width goes to the devices.
using none = prefix<decltype(input<6> >> resize<4>{} >> resize<2>{})>;
static_assert(none::size == 0 && none::leading && none::untrained && none::out_width == 6);

// A host layer that changes the width hands that width over.
using widen = prefix<decltype(input<3> >> on<cpu>(resize<5>{}) >> resize<2>{})>;
static_assert(widen::size == 1 && widen::out_width == 5 && !widen::untrained);  // resize has parameters

// A mark after a device layer does not lead.
using late = prefix<decltype(input<3> >> resize<4>{} >> on<cpu>(same<0>{}))>;
static_assert(late::size == 0 && !late::leading);
}  // namespace
