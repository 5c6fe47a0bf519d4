// pc_step on a graph with a layer predictive coding cannot train (dropout draws random masks, and
// its backward has no input part of its own); the twin trains the same graph without it.
// expect: plait: predictive coding is asked of a graph with a layer it cannot train
#include <plait/plait.hpp>
using namespace plait;
int main() {
#ifdef PLAIT_FAIL
  constexpr auto net = input<4> >> linear<8> >> relu >> dropout<0.5f> >> linear<2>;
#else
  constexpr auto net = input<4> >> linear<8> >> relu >> linear<2>;
#endif
  auto m = place(net, host_device(), {.max_batch = 2});
  float x[8] = {}, t[4] = {};
  auto opt = sgd{.lr = 0.1f};
  m.pc_step(samples<shape<4>>{x, 2}, samples<shape<2>>{t, 2}, mse, opt, {.iterations = 4});
}
