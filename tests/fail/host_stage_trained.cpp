// A layer with parameters in the host stage.
// expect: plait: on<cpu>\(\.\.\.\) holds a layer with parameters or state
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<8> >> on<cpu>(plait::tanh >> linear<8>) >> linear<2>;
#else
constexpr auto net = input<8> >> on<cpu>(plait::tanh) >> linear<8> >> linear<2>;
#endif
void f() { auto m = place(net, host_device()); }
