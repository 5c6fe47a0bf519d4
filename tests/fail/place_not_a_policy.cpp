// place<P> given a type that is not a policy.
// expect: plait: place<P> is given a type that is not a policy
#include <plait/plait.hpp>
using namespace plait;
struct data_parallel {
  int replicas = 2;  // not an empty type with device_count and name
};
int main() {
#ifdef PLAIT_FAIL
  auto m = place<data_parallel>(input<4> >> linear<2>, host_devices(2), {.max_batch = 2});
#else
  auto m = place<replicate<2> >(input<4> >> linear<2>, host_devices(2), {.max_batch = 2});
#endif
  (void)m;
}
