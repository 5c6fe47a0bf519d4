// A pipeline whose schedule and micro-batches are given in the wrong order: plait's two messages,
// and none of the errors of what is built on the arguments (the type reads stand-ins past them).
// expect: plait: pipeline's second argument is not microbatches<M>
// unless: incomplete type|is not a member of|not a constant expression|cannot map this graph
#include <plait/plait.hpp>
using namespace plait;
constexpr auto net = input<8> >> linear<16> >> relu >> linear<4>;
#ifdef PLAIT_FAIL
using policy = pipeline<2, one_f_one_b, microbatches<4>>;
#else
using policy = pipeline<2, microbatches<4>, one_f_one_b>;
#endif
void make() {
  auto m = place<policy>(net, host_devices(2));
  (void)m;
}
