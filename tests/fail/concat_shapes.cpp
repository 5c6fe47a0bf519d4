// concat of image branches whose heights differ (a stride-2 convolution beside a stride-1 one).
// expect: plait: concat\(\.\.\.\) has branches whose outputs differ beyond their first dimension
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<3, 8, 8> >> concat(conv2d<4, 3, 2, 1>, conv2d<4, 3, 1, 1>) >> flatten >> linear<2>;
#else
constexpr auto net = input<3, 8, 8> >> concat(conv2d<4, 3, 2, 1>, conv2d<4, 1, 2>) >> flatten >> linear<2>;
#endif
static_assert(decltype(net)::layer_count == 3);
