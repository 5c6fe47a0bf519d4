// An LSTM given one vector per sample: lstm reads a sequence, shape<T, I>.
// expect: plait: lstm<H> is given an input of rank other than 2.*Fix: give it input<T, I>
#include <plait/layers/lstm.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<12> >> lstm<8>;
#else
constexpr auto net = input<12, 3> >> lstm<8>;
#endif
static_assert(Graph<decltype(net)>);
