// Composing something that is not a layer.
// expect: plait: the right side of >> is not a layer
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<4> >> 5;
#else
constexpr auto net = input<4> >> linear<5>;
#endif
static_assert(Graph<decltype(net)>);
