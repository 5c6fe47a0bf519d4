// A linear layer given an image: linear takes rank-1 input only.
// expect: plait: linear<N> is given an input of rank other than 1.*Fix: put `>> flatten` before it
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<1, 28, 28> >> linear<10>;
#else
constexpr auto net = input<1, 28, 28> >> flatten >> linear<10>;
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<10>>);
