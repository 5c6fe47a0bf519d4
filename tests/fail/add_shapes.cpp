// add of branches with 8 and 6 outputs.
// expect: plait: add\(\.\.\.\) has branches of different output shapes
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<4> >> add(linear<8> >> relu, linear<6>) >> linear<2>;
#else
constexpr auto net = input<4> >> add(linear<8> >> relu, linear<8>) >> linear<2>;
#endif
static_assert(decltype(net)::layer_count == 2);
