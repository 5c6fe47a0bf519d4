// A batch whose sample shape is not the graph's input shape.
// expect: plait: the batch's sample shape differs from the graph's input shape
#include <plait/plait.hpp>
using namespace plait;
void f() {
  constexpr auto net = input<4> >> linear<3>;
  auto m = place(net, host_device());
  auto opt = sgd{};
  float x[8] = {};
  std::int32_t y[1] = {};
#ifdef PLAIT_FAIL
  m.train_step(samples<shape<8>>{x, 1}, class_labels{y, 1}, cross_entropy, opt);
#else
  m.train_step(samples<shape<4>>{x, 1}, class_labels{y, 1}, cross_entropy, opt);
#endif
}
