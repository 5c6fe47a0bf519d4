// layer_parameters<I> for a layer the graph does not have.
// expect: plait: layer_parameters<I> names a layer the graph does not have
#include <plait/plait.hpp>
using namespace plait;
int main() {
  auto m = place(input<4> >> linear<8> >> relu >> linear<2>, host_device(), {.max_batch = 2});
  static_assert(decltype(m)::layer_count == 2);  // relu is fused into the first linear
#ifdef PLAIT_FAIL
  auto p = m.layer_parameters<2>();
#else
  auto p = m.layer_parameters<1>();
#endif
  (void)p;
}
