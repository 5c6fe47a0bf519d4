// Data parallelism over no replicas: plait's message alone (the type reads one replica past it).
// expect: plait: replicate<0> has no replicas
// unless: division by zero|not a constant expression|incomplete type
#include <plait/plait.hpp>
using namespace plait;
constexpr auto net = input<8> >> linear<16> >> relu >> linear<4>;
#ifdef PLAIT_FAIL
using policy = replicate<0>;
#else
using policy = replicate<2>;
#endif
void make() {
  auto m = place<policy>(net, host_devices(2));
  (void)m;
}
