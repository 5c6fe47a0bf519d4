#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

using namespace plait;

namespace {
// torch.optim.SGD's rule, written out for one scalar (dampening 0).
struct reference_sgd {
  double lr, mu, wd;
  bool nesterov;
  double buf = 0;
  bool first = true;
  void step(double& p, double g) {
    g += wd * p;
    if (mu != 0) {
      buf = first ? g : mu * buf + g;
      first = false;
      g = nesterov ? g + mu * buf : buf;
    }
    p -= lr * g;
  }
};
}  // namespace

TEST_CASE_TEMPLATE("sgd follows torch.optim.SGD", Ctx, host_context<sequential>, host_context<openmp>) {
  Ctx ctx{};
  for (bool nesterov : {false, true})
    for (float mu : {0.0f, 0.9f}) {
      const sgd opt{.lr = 0.1f, .momentum = mu, .weight_decay = 0.01f, .nesterov = nesterov};
      const std::size_t n = 20000;  // several blocks
      auto p = test::random_vector(n, 1);
      auto p0 = p;
      std::vector<double> state(opt.state_per_param() * n, 0.0);
      std::vector<reference_sgd> ref(n, reference_sgd{0.1, mu, 0.01, nesterov});
      for (std::size_t t = 1; t <= 4; ++t) {
        const auto g = test::random_vector(n, 10 + t);
        opt.step(ctx, p.data(), g.data(), state.data(), n, t);
        for (std::size_t i = 0; i < n; ++i) ref[i].step(p0[i], g[i]);
      }
      for (std::size_t i = 0; i < n; i += 997) CHECK(p[i] == doctest::Approx(p0[i]).epsilon(1e-6));
    }
}
