// A schedule given an optimizer that has no learning rate to set.
// expect: plait: scheduled<Opt, S> is given an optimizer without a `lr` member
#include <plait/plait.hpp>
using namespace plait;
struct fixed_step {
#ifndef PLAIT_FAIL
  float lr = 0.1f;
#endif
  std::size_t state_per_param() const { return 0; }
  template <class Ctx, class T>
  void step(const Ctx&, T*, const T*, T*, std::size_t, std::size_t) const {}
};
inline scheduled<fixed_step, constant_lr> opt(fixed_step{}, constant_lr{.lr = 0.5f});
