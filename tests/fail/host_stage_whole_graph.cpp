// Every layer in the host stage: nothing left for the device.
// expect: plait: on<cpu>\(\.\.\.\) marks every layer of the graph
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<8> >> on<cpu>(plait::tanh >> flatten);
#else
constexpr auto net = input<8> >> on<cpu>(plait::tanh) >> flatten;
#endif
void f() { auto m = place(net, host_device()); }
