// A pipeline with more stages than the graph has layers.
// expect: plait: pipeline<S> has more stages than the graph has layers
#include <plait/plait.hpp>
using namespace plait;
using net = std::remove_const_t<decltype(input<8> >> linear<8> >> relu >> linear<2>)>;  // two layers (relu fused)
#ifdef PLAIT_FAIL
constexpr auto stages = pipeline<3, microbatches<2>>::stages<net>;
#else
constexpr auto stages = pipeline<2, microbatches<2>>::stages<net>;
#endif
static_assert(stages.size() >= 2);
