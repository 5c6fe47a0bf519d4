// partition<3> of an MLP whose lone last linear (10 outputs, layer 4) must be column-split three
// ways; the compiler names partition_split_check<4, 10, 3> in the instantiation note.
// expect: plait: partition<N> cannot split a linear layer over N devices
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<12> >> linear<6> >> relu >> linear<6> >> relu >> linear<12> >> linear<6> >> linear<10>;
#else
constexpr auto net = input<12> >> linear<6> >> relu >> linear<6> >> relu >> linear<12> >> linear<6> >> linear<9>;
#endif
using graph = std::remove_const_t<decltype(net)>;
static_assert(partition<3>::programs<graph>[0].size() > 0);
