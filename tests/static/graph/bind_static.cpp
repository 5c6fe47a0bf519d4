// graph/bind.hpp: each layer spec of a chain is bound to the output shape of the layer before it.
// Compiling is the test.
#include <plait/graph/bind.hpp>
#include <type_traits>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;
using test::same;

using three = bound_list<shape<3>, type_list<resize<5>, same<0>, resize<2>>>;
static_assert(
    std::is_same_v<three::types,
                   type_list<resize<5>::bound<shape<3>>, same<0>::bound<shape<5>>, resize<2>::bound<shape<5>>>>);
static_assert(std::is_same_v<three::out_shape, shape<2>>);
static_assert(type_at_t<2, three::types>::param_count == 5 * 2);

// No layers: nothing bound, the input is the output.
static_assert(std::is_same_v<bound_list<shape<4, 4>, type_list<>>::types, type_list<>>);
static_assert(std::is_same_v<bound_list<shape<4, 4>, type_list<>>::out_shape, shape<4, 4>>);

// Every bound layer is a BoundLayer.
static_assert(BoundLayer<type_at_t<0, three::types>> && BoundLayer<type_at_t<1, three::types>>);
}  // namespace
