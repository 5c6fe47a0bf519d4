// Composing a graph with a graph whose input shape differs from the left side's output.
// expect: plait: shape mismatch at >>: the left graph's output shape differs
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = (input<8> >> linear<16>) >> (input<12> >> linear<2>);
#else
constexpr auto net = (input<8> >> linear<16>) >> (input<16> >> linear<2>);
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<2>>);
