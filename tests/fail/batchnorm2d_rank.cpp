// batchnorm2d given a vector: it normalises channels of [C, H, W] images only.
// expect: plait: batchnorm2d is given an input of rank other than 3.*Fix: give it .C, H, W. samples
#include <plait/layers/batchnorm2d.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<16> >> batchnorm2d >> linear<10>;
#else
constexpr auto net = input<1, 4, 4> >> batchnorm2d >> flatten >> linear<10>;
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<10>>);
