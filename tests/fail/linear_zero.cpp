// A linear layer with no outputs.
// expect: plait: linear<0> has no outputs
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<4> >> linear<0>;
#else
constexpr auto net = input<4> >> linear<1>;
#endif
static_assert(Graph<decltype(net)>);
