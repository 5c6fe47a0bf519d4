// An on<cpu> mark after a layer that runs on the device.
// expect: plait: on<cpu>\(\.\.\.\) marks layers after the first layer that runs on a device
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<8> >> linear<8> >> on<cpu>(plait::tanh) >> linear<2>;
#else
constexpr auto net = input<8> >> on<cpu>(plait::tanh) >> linear<8> >> linear<2>;
#endif
void f() { auto m = place(net, host_device()); }
