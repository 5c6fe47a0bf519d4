// A residual block whose f changes the shape (3 -> 16 channels) with the identity shortcut:
// y = f(x) + x cannot add them. The fix is a projection shortcut.
// expect: plait: residual\(f\) is given an f that changes the sample shape.*Fix: add a projection shortcut
#include <plait/layers/residual.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<3, 8, 8> >> residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1>);
#else
constexpr auto net = input<3, 8, 8> >>
                     residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1>, conv2d<16, 1>);
#endif
static_assert(Graph<decltype(net)>);
#ifndef PLAIT_FAIL
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<16, 8, 8>>);
#endif
