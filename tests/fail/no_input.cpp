// Placing a graph that does not start with input<...>.
// expect: plait: the graph has no input
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = linear<10> >> relu >> linear<2>;
#else
constexpr auto net = input<4> >> linear<10> >> relu >> linear<2>;
#endif
void f() {
  auto m = place(net, host_device());
  (void)m;
}
