#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <limits>

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

TEST_CASE("sgd's check refuses settings that would train silently wrong, naming the call and the setting") {
  CHECK_NOTHROW(sgd{}.check("train_step"));
  CHECK_NOTHROW(sgd{.lr = 0.0f, .momentum = 1.0f, .nesterov = true}.check("train_step"));  // the edges are allowed
  const auto refused = [](const sgd& o, const char* text) {
    CHECK_THROWS_WITH_AS(o.check("pc_step"), doctest::Contains(text), plait::error);
  };
  refused(sgd{.lr = -0.1f}, "plait: pc_step is given sgd with lr = -0.1. lr must be finite and at least 0");
  refused(sgd{.lr = std::numeric_limits<float>::infinity()}, "with lr = inf");
  refused(sgd{.momentum = -0.5f}, "with momentum = -0.5. momentum must be in [0, 1]");
  refused(sgd{.momentum = 1.5f}, "with momentum = 1.5");
  refused(sgd{.momentum = std::numeric_limits<float>::quiet_NaN()}, "with momentum = nan");
  refused(sgd{.weight_decay = -1e-4f}, "with weight_decay = -0.0001. weight_decay must be finite and at least 0");
  refused(sgd{.nesterov = true}, "nesterov = true and momentum = 0");
  CHECK_THROWS_WITH_AS(
      sgd{.lr = -1}.check("train_step"),
      doctest::Contains(". Fix: pass sgd{.lr = ...} finite and at least 0 (or fix the schedule that sets it)."),
      plait::error);
}
