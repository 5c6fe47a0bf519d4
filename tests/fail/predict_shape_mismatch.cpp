// predict given samples of another shape than the graph's input.
// expect: plait: the samples given to predict differ in shape from the graph's input
#include <plait/plait.hpp>
using namespace plait;
int main() {
  auto m = place(input<1, 28, 28> >> flatten >> linear<10>, host_device(), {.max_batch = 2});
  float x[2 * 784] = {};
#ifdef PLAIT_FAIL
  m.predict(samples<shape<784>>{x, 2});
#else
  m.predict(samples<shape<1, 28, 28>>{x, 2});
#endif
}
