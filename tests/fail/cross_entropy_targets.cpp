// cross_entropy given float targets instead of class labels.
// expect: plait: cross_entropy is given targets that are not class labels
#include <plait/plait.hpp>
using namespace plait;
void f() {
  constexpr auto net = input<4> >> linear<3>;
  auto m = place(net, host_device());
  auto opt = sgd{};
  float x[4] = {}, t[3] = {};
  std::int32_t y[1] = {};
#ifdef PLAIT_FAIL
  m.train_step(samples<shape<4>>{x, 1}, samples<shape<3>>{t, 1}, cross_entropy, opt);
#else
  (void)t;
  m.train_step(samples<shape<4>>{x, 1}, class_labels{y, 1}, cross_entropy, opt);
#endif
}
