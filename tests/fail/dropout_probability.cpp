// dropout with P = 1: every element dropped and the survivors divided by zero.
// expect: plait: dropout<P> is given a probability outside .0, 1..*Fix: give dropout a P with 0 <= P < 1
#include <plait/layers/dropout.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<16> >> dropout<1.0f> >> linear<10>;
#else
constexpr auto net = input<16> >> dropout<0.5f> >> linear<10>;
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<10>>);
