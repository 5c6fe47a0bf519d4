#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace plait;

namespace {
// torch.optim.Adam / AdamW, written out for one scalar.
void reference(double& p, double& m, double& v, double g, std::size_t t, double lr, double wd, bool decoupled) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  if (decoupled) p *= 1 - lr * wd;
  else g += wd * p;
  m = b1 * m + (1 - b1) * g;
  v = b2 * v + (1 - b2) * g * g;
  const double mhat = m / (1 - std::pow(b1, double(t))), vhat = v / (1 - std::pow(b2, double(t)));
  p -= lr * mhat / (std::sqrt(vhat) + eps);
}

template <class Opt, class Ctx>
void compare(const Ctx& ctx, const Opt& opt, double wd, bool decoupled) {
  const std::size_t n = 10000;
  auto p = test::random_vector(n, 1);
  auto rp = p;
  std::vector<double> state(2 * n, 0.0), m(n, 0.0), v(n, 0.0);
  for (std::size_t t = 1; t <= 5; ++t) {
    const auto g = test::random_vector(n, 100 + t);
    opt.step(ctx, p.data(), g.data(), state.data(), n, t);
    for (std::size_t i = 0; i < n; ++i) reference(rp[i], m[i], v[i], g[i], t, opt.lr, wd, decoupled);
  }
  for (std::size_t i = 0; i < n; i += 331) CHECK(p[i] == doctest::Approx(rp[i]).epsilon(1e-6));
}
}  // namespace

TEST_CASE_TEMPLATE("adam and adamw follow torch.optim", Ctx, host_context<sequential>, host_context<openmp>) {
  Ctx ctx{};
  compare(ctx, adam{.lr = 0.01f, .weight_decay = 0.1f}, 0.1f, false);
  compare(ctx, adamw{.lr = 0.01f, .weight_decay = 0.1f}, 0.1f, true);
  CHECK(adam{}.state_per_param() == 2);
}

TEST_CASE("adam reading its step count from memory (as a CUDA step does) gives the bits of the passed count") {
  // The path a replayed CUDA graph takes (step_count::at and ::scalars), run on the host.
  const host_context<sequential> ctx{};
  const std::size_t n = 1000;
  std::vector<float> p1(n), p2(n), s1(2 * n, 0.0f), s2(2 * n, 0.0f), g(n);
  splitmix64 rng(4);
  for (auto& x : p1) x = rng.uniform(-1, 1);
  p2 = p1;
  std::uint64_t word = 0;
  double scalars[2] = {0, 0};
  const auto opt = adamw{.lr = 0.01f};
  for (std::size_t t = 1; t <= 4; ++t) {
    for (auto& x : g) x = rng.uniform(-1, 1);
    opt.step(ctx, p1.data(), g.data(), s1.data(), n, t);
    word = t;
    opt.step(ctx, p2.data(), g.data(), s2.data(), n, step_count{99, &word, scalars});  // the value is not used
  }
  CHECK(std::memcmp(p1.data(), p2.data(), n * sizeof(float)) == 0);
  CHECK(scalars[0] != 0.0);
}

TEST_CASE("flush_subnormal keeps normal values, infinities and NaN, and makes subnormals 0") {
  const float tiny = std::numeric_limits<float>::min();  // the smallest normal float
  CHECK(flush_subnormal(tiny) == tiny);
  CHECK(flush_subnormal(-tiny) == -tiny);
  CHECK(flush_subnormal(tiny / 2) == 0.0f);
  CHECK(flush_subnormal(-std::numeric_limits<float>::denorm_min()) == 0.0f);
  CHECK(flush_subnormal(1.5f) == 1.5f);
  CHECK(flush_subnormal(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(flush_subnormal(std::numeric_limits<float>::quiet_NaN())));
  CHECK(flush_subnormal(std::numeric_limits<double>::min() / 4) == 0.0);
  CHECK(flush_subnormal(1e-300) == 1e-300);
}

TEST_CASE("moments that decay under zero gradients reach 0 instead of staying subnormal") {
  // A weight whose input turns 0 (a border pixel): after its last gradient, Adam's m shrinks by
  // beta1 per step and SGD's momentum by its factor; both must end at 0, never below FLT_MIN.
  const host_context<sequential> ctx{};
  const std::size_t n = 64;
  std::vector<float> p(n, 0.5f), g(n, 0.0f), adam_state(2 * n, 0.0f), sgd_state(n, 0.0f), q(n, 0.5f);
  for (std::size_t i = 0; i < n; ++i) g[i] = 1e-3f * float(i + 1);
  const auto a = adam{.lr = 1e-3f};
  const auto s = sgd{.lr = 1e-3f, .momentum = 0.9f};
  a.step(ctx, p.data(), g.data(), adam_state.data(), n, 1);
  s.step(ctx, q.data(), g.data(), sgd_state.data(), n, 1);
  std::fill(g.begin(), g.end(), 0.0f);
  const auto subnormal = [](float x) { return x != 0.0f && std::abs(x) < std::numeric_limits<float>::min(); };
  std::size_t seen = 0;
  for (std::size_t t = 2; t <= 1500; ++t) {  // 0.9^1500: far below the subnormal range
    a.step(ctx, p.data(), g.data(), adam_state.data(), n, t);
    s.step(ctx, q.data(), g.data(), sgd_state.data(), n, t);
    for (float x : adam_state) seen += subnormal(x);
    for (float x : sgd_state) seen += subnormal(x);
  }
  CHECK(seen == 0);
  CHECK(std::all_of(adam_state.begin(), adam_state.begin() + n, [](float x) { return x == 0.0f; }));
  CHECK(std::all_of(sgd_state.begin(), sgd_state.end(), [](float x) { return x == 0.0f; }));
  CHECK(std::all_of(p.begin(), p.end(), [](float x) { return std::isfinite(x) && x < 0.5f; }));
}

TEST_CASE_TEMPLATE("adam's and adamw's check refuses settings that would train silently wrong", A, adam, adamw) {
  CHECK_NOTHROW(A{}.check("train_step"));
  CHECK_NOTHROW(A{.lr = 0.0f, .beta1 = 0.0f, .beta2 = 0.0f, .eps = 0.0f, .weight_decay = 0.0f}.check("train_step"));
  const std::string n = A::name;
  const auto refused = [](const A& o, const std::string& text) {
    CHECK_THROWS_WITH_AS(o.check("train_step"), doctest::Contains(text.c_str()), plait::error);
  };
  refused(A{.lr = std::numeric_limits<float>::quiet_NaN()}, "plait: train_step is given " + n + " with lr = nan");
  refused(A{.lr = -1e-3f}, "with lr = -0.001. lr must be finite and at least 0");
  refused(A{.beta1 = 1.0f}, "with beta1 = 1. beta1 must be in [0, 1)");
  refused(A{.beta1 = -0.1f}, "with beta1 = -0.1");
  refused(A{.beta2 = 1.5f}, "with beta2 = 1.5. beta2 must be in [0, 1)");
  refused(A{.eps = -1e-8f}, "with eps = -1e-08. eps must be finite and at least 0");
  refused(A{.weight_decay = std::numeric_limits<float>::infinity()}, "with weight_decay = inf");
}
