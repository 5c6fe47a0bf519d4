// Marks that name three devices, placed on two.
// expect: plait: the graph's on<d>\(\.\.\.\) marks and placement<D> disagree
#include <plait/plait.hpp>
using namespace plait;
using net = std::remove_const_t<decltype(input<4> >> on<0>(linear<4>) >> on<1>(linear<4>) >> on<2>(linear<2>))>;
#ifdef PLAIT_FAIL
constexpr auto stages = placement<2>::stages<net>;
#else
constexpr auto stages = placement<3>::stages<net>;
#endif
static_assert(stages.size() >= 2);
