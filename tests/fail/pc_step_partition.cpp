// pc_step under partition<2>: value nodes are whole layer outputs, which partition splits; the
// twin is the same two devices as a pipeline (layer-parallel predictive coding).
// expect: plait: predictive coding is asked of a model under partition<N>
#include <plait/plait.hpp>
using namespace plait;
int main() {
  constexpr auto net = input<4> >> linear<8> >> relu >> linear<2>;
#ifdef PLAIT_FAIL
  auto m = place<partition<2>>(net, host_devices(2), {.max_batch = 4});
#else
  auto m = place<pipeline<2>>(net, host_devices(2), {.max_batch = 4});
#endif
  float x[16] = {}, t[8] = {};
  auto opt = sgd{.lr = 0.1f};
  m.pc_step(samples<shape<4>>{x, 4}, samples<shape<2>>{t, 4}, mse, opt, {.iterations = 4});
}
