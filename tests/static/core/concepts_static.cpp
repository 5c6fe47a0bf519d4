// core/concepts.hpp: the concepts at plait's public boundaries, and the optional counts of a bound
// layer. Compiling is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;

// concepts at the boundaries
static_assert(LayerSpec<linear_t<3>> && LayerSpec<relu_t> && LayerSpec<flatten_t>);
static_assert(!LayerSpec<int> && !LayerSpec<shape<3>>);
static_assert(BoundLayer<linear_t<3>::bound<shape<5>>> && BoundLayer<flatten_t::bound<shape<2, 2>>>);
static_assert(!BoundLayer<int> && !BoundLayer<linear_t<3>>);  // a spec is not bound to a shape yet

// A non-empty type is no layer spec, even when it says it is one.
struct not_empty {
  static constexpr bool is_layer = true;
  int x;
};
struct says_no {
  static constexpr bool is_layer = false;
};
static_assert(!LayerSpec<not_empty> && !LayerSpec<says_no>);

// Optional counts default to 0; a layer that declares them has them.
struct plain {};
struct stateful {
  static constexpr std::size_t state_count = 6;
  static constexpr std::size_t replica_sum_count = 4;
};
static_assert(state_count_of<plain> == 0 && replica_sum_count_of<plain> == 0);
static_assert(state_count_of<stateful> == 6 && replica_sum_count_of<stateful> == 4);

// The communicators the runtime can use.
static_assert(Communicator<local_comm>);
static_assert(!Communicator<int>);
}  // namespace
