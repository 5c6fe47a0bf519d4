// mse with targets whose shape is not the model's output shape.
// expect: plait: the loss target's shape does not match the model's output shape
#include <plait/plait.hpp>
using namespace plait;
void f() {
  constexpr auto net = input<4> >> linear<10>;
  auto m = place(net, host_device());
  auto opt = sgd{};
  float x[4] = {}, t[10] = {};
#ifdef PLAIT_FAIL
  m.train_step(samples<shape<4>>{x, 1}, samples<shape<5>>{t, 1}, mse, opt);
#else
  m.train_step(samples<shape<4>>{x, 1}, samples<shape<10>>{t, 1}, mse, opt);
#endif
}
