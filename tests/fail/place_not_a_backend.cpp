// place given devices whose type is not a backend.
// expect: plait: place is given devices of a type that is not a backend
#include <plait/plait.hpp>
using namespace plait;
struct tpu {};
int main() {
#ifdef PLAIT_FAIL
  auto m = place(input<4> >> linear<2>, device_set<tpu>{.count = 1}, {.max_batch = 2});
#else
  auto m = place(input<4> >> linear<2>, host_devices(1), {.max_batch = 2});
#endif
  (void)m;
}
