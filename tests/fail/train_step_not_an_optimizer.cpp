// train_step given something that is not an optimizer.
// expect: plait: train_step is given an optimizer that is not an Optimizer
#include <plait/plait.hpp>
using namespace plait;
struct lbfgs {
  float lr = 0.1f;
};  // a user's optimizer without state_per_param/step
int main() {
  auto m = place(input<4> >> linear<2>, host_device(), {.max_batch = 2});
  float x[8] = {}, t[4] = {};
#ifdef PLAIT_FAIL
  auto opt = lbfgs{};
#else
  auto opt = sgd{.lr = 0.1f};
#endif
  m.train_step(samples<shape<4>>{x, 2}, samples<shape<2>>{t, 2}, mse, opt);
}
