// Branches that keep state (batchnorm) and differ, placed one per device by partition<2>.
// expect: plait: partition<N> places branches that keep state \(batchnorm\) on devices of their own only
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<2, 4, 4> >> concat(conv2d<2, 3, 1, 1> >> batchnorm2d, conv2d<2, 1> >> batchnorm2d) >> flatten
                     >> linear<2>;
#else
constexpr auto net = input<2, 4, 4> >>
                     concat(conv2d<2, 3, 1, 1> >> batchnorm2d, conv2d<2, 3, 1, 1> >> batchnorm2d) >> flatten
                     >> linear<2>;
#endif
using graph = std::remove_const_t<decltype(net)>;
static_assert(graph_layout<partition<2>::device_graph<graph>>::state_buffer_size > 0);
