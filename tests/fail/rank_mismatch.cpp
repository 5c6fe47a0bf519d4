// A linear layer given an image: linear takes vectors, shape<F>, or sequences, shape<T, F>, only.
// expect: plait: linear<N> is given an input of rank 3 or more.*vector.*sequence.*Fix: put `>> flatten` before it
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<1, 28, 28> >> linear<10>;
#else
constexpr auto net = input<1, 28, 28> >> flatten >> linear<10>;
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<10>>);
// A sequence is not an error: every step is mapped, shape<28, 28> -> shape<28, 10>.
static_assert(std::is_same_v<output_shape_t<decltype(input<28, 28> >> linear<10>)>, shape<28, 10>>);
