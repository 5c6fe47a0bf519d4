// train_step given something that is not a loss.
// expect: plait: train_step is given a loss that is not a Loss
#include <plait/plait.hpp>
using namespace plait;
struct hinge {};  // a user's loss without accepts/check/rows
int main() {
  auto m = place(input<4> >> linear<2>, host_device(), {.max_batch = 2});
  float x[8] = {}, t[4] = {};
  auto opt = sgd{.lr = 0.1f};
#ifdef PLAIT_FAIL
  m.train_step(samples<shape<4>>{x, 2}, samples<shape<2>>{t, 2}, hinge{}, opt);
#else
  m.train_step(samples<shape<4>>{x, 2}, samples<shape<2>>{t, 2}, mse, opt);
#endif
}
