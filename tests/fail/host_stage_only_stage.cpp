// A pipeline whose first stage would hold only the host stage's layers.
// expect: plait: a device's part of the graph holds only on<cpu> layers
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<8> >> on<cpu>(plait::tanh >> plait::sigmoid) >> linear<8> >> linear<2>;
#else
constexpr auto net = input<8> >> plait::tanh >> plait::sigmoid >> linear<8> >> linear<2>;
#endif
void f() { auto m = place<pipeline<3>>(net, host_devices(3)); }
