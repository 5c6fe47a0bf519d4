// A 2-D convolution given a vector: conv2d takes rank-3 [C, H, W] input only.
// expect: plait: conv2d<Out, K, Stride, Pad> is given an input of rank other than 3.*Fix: give it input<C, H, W>
#include <plait/layers/conv2d.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<64> >> conv2d<8, 3>;
#else
constexpr auto net = input<1, 8, 8> >> conv2d<8, 3>;
#endif
static_assert(Graph<decltype(net)>);
#ifndef PLAIT_FAIL
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<8, 6, 6>>);
#endif
