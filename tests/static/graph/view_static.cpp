// graph/view.hpp: a view reinterprets its input: no parameters, no memory, no work. Compiling is the
// test.
#include <plait/graph/view.hpp>

namespace {
using namespace plait;

using v = view_layer<shape<2, 3>, shape<6>>;
static_assert(BoundLayer<v>);
static_assert(v::is_view && v::in_place_grad && v::param_count == 0 && v::saved_count == 0 && v::flops == 0);
static_assert(std::is_same_v<v::in_shape, shape<2, 3>> && std::is_same_v<v::out_shape, shape<6>>);
static_assert(view_layer<shape<4>, shape<2, 2>>::out_shape::rank == 2);
}  // namespace
