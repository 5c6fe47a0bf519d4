// A graph with one explicit cut (two stages) placed on a three-stage pipeline.
// expect: plait: the graph's cut markers and pipeline<S> disagree
#include <plait/plait.hpp>
using namespace plait;
using net = std::remove_const_t<decltype(input<8> >> linear<8> >> cut >> linear<8> >> linear<2>)>;
#ifdef PLAIT_FAIL
constexpr auto stages = pipeline<3, microbatches<2>>::stages<net>;
#else
constexpr auto stages = pipeline<2, microbatches<2>>::stages<net>;
#endif
static_assert(stages.size() >= 2);
