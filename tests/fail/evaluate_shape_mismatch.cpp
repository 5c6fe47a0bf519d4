// evaluate given samples of another shape than the graph's input.
// expect: plait: the samples given to evaluate differ in shape from the graph's input
#include <plait/plait.hpp>
using namespace plait;
int main() {
  auto m = place(input<1, 28, 28> >> flatten >> linear<10>, host_device(), {.max_batch = 2});
  float x[2 * 784] = {};
  std::int32_t y[2] = {};
#ifdef PLAIT_FAIL
  m.evaluate(samples<shape<784>>{x, 2}, class_labels{y, 2}, cross_entropy);
#else
  m.evaluate(samples<shape<1, 28, 28>>{x, 2}, class_labels{y, 2}, cross_entropy);
#endif
}
