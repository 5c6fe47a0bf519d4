// frozen(...) given a graph with its input.
// expect: plait: frozen\(\.\.\.\) is given something that is not a layer or a sub-graph without an input
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<4> >> frozen(input<4> >> linear<8>) >> linear<2>;
#else
constexpr auto net = input<4> >> frozen(linear<8>) >> linear<2>;
#endif
static_assert(decltype(net)::layer_count == 2);
