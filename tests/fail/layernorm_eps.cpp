// layernorm with eps = 0: a constant sample would divide by zero.
// expect: plait: layernorm_t is given an eps that is not positive
#include <plait/plait.hpp>
#include <ratio>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<8> >> layernorm_t<std::ratio<0>>{} >> linear<2>;
#else
constexpr auto net = input<8> >> layernorm_t<std::ratio<1, 1000>>{} >> linear<2>;
#endif
static_assert(decltype(net)::layer_count == 2);
