// A 5 x 5 kernel over a 4 x 4 image without padding: the window never fits.
// expect: plait: conv2d's K x K kernel is larger than its padded input.*Fix: use a smaller K, more padding
#include <plait/layers/conv2d.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<3, 4, 4> >> conv2d<8, 5>;
#else
constexpr auto net = input<3, 4, 4> >> conv2d<8, 5, 1, 1>;
#endif
static_assert(Graph<decltype(net)>);
#ifndef PLAIT_FAIL
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<8, 2, 2>>);
#endif
