// pc_step under a pipeline of several micro-batches: layer-parallel predictive coding has every
// stage work on the whole batch in every iteration; the twin is the pipeline of one micro-batch.
// expect: plait: predictive coding is asked of a pipeline with more than one micro-batch
#include <plait/plait.hpp>
using namespace plait;
int main() {
  constexpr auto net = input<4> >> linear<8> >> relu >> linear<2>;
#ifdef PLAIT_FAIL
  auto m = place<pipeline<2, microbatches<2>>>(net, host_devices(2), {.max_batch = 4});
#else
  auto m = place<pipeline<2>>(net, host_devices(2), {.max_batch = 4});
#endif
  float x[16] = {}, t[8] = {};
  auto opt = sgd{.lr = 0.1f};
  m.pc_step(samples<shape<4>>{x, 4}, samples<shape<2>>{t, 4}, mse, opt, {.iterations = 4});
}
