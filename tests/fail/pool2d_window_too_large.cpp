// Pooling a 3 x 3 feature map with a 4 x 4 window.
// expect: plait: the pooling window is larger than its input image.*Fix: use a smaller K
#include <plait/layers/pool2d.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<2, 6, 6> >> maxpool2d<2> >> maxpool2d<4>;
#else
constexpr auto net = input<2, 6, 6> >> maxpool2d<2> >> maxpool2d<3>;
#endif
static_assert(Graph<decltype(net)>);
#ifndef PLAIT_FAIL
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<2, 1, 1>>);
#endif
