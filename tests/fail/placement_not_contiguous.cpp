// Device 0 holds two parts of the graph (and device 2 none).
// expect: plait: the graph's on<d>\(\.\.\.\) marks do not give each device one contiguous part
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
using net = std::remove_const_t<decltype(input<4> >> on<0>(linear<4>) >> on<1>(linear<4>) >> on<0>(linear<2>))>;
#else
using net = std::remove_const_t<decltype(input<4> >> on<0>(linear<4>) >> on<1>(linear<4>) >> on<2>(linear<2>))>;
#endif
constexpr auto stages = placement<3>::stages<net>;
static_assert(stages.size() == 3);
