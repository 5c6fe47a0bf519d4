// optim/optimizer.hpp: the Optimizer concept, met by plait's optimizers and by a type with
// state_per_param() and step(...), missed by others. Compiling is the test.
#include <plait/optim/adam.hpp>
#include <plait/optim/optimizer.hpp>
#include <plait/optim/sgd.hpp>

namespace {
using namespace plait;

static_assert(Optimizer<sgd> && Optimizer<adam> && Optimizer<adamw>);

struct custom {
  std::size_t state_per_param() const { return 0; }
  template <class Ctx>
  void step(const Ctx&, float*, const float*, float*, std::size_t, std::size_t) const {}  // takes the count as a number
};
struct stateless_only {
  std::size_t state_per_param() const { return 0; }
};
struct step_only {
  template <class Ctx>
  void step(const Ctx&, float*, const float*, float*, std::size_t, step_count) const {}
};
static_assert(Optimizer<custom> && !Optimizer<stateless_only> && !Optimizer<step_only> && !Optimizer<int>);
}  // namespace
