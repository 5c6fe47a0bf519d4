#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/dropout.hpp>

using namespace plait;
using test::host_contexts;

static_assert(BoundLayer<dropout_t<0.5f>::bound<shape<3, 4>>>);
static_assert(dropout_t<0.5f>::bound<shape<3, 4>>::saved_count == 0);  // the mask is recomputed
static_assert(std::is_same_v<std::remove_const_t<decltype(dropout<0.5f>)>, dropout_t<0.5f, 0>>);
static_assert(std::is_same_v<std::remove_const_t<decltype(dropout<0.25>)>, dropout_t<0.25f, 0>>);  // a double in range
static_assert(dropout_t<0.0f>::probability == 0.0f);

namespace {
template <class B, class Ctx, class T = float>
std::vector<T> run_forward(const Ctx& ctx, const std::vector<T>& x, std::size_t batch, std::uint64_t seed,
                           std::uint64_t step, std::size_t first_sample, bool training = true) {
  std::vector<T> y(x.size());
  B::forward(ctx,
             forward_args<T>{nullptr, x.data(), y.data(), nullptr, batch, training, nullptr, seed, step, first_sample});
  return y;
}
std::vector<float> ones(std::size_t n) { return std::vector<float>(n, 1.0f); }
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("dropout backward matches finite differences", Ctx, dropout_grad) {
  Ctx ctx{};
  ctx.threads = 2;
  auto r1 = test::gradcheck<dropout_t<0.5f>::bound<shape<7>>>(ctx, 4);
  CHECK(r1.max_input_error < 1e-7);
  auto r2 = test::gradcheck<dropout_t<0.3f, 2>::bound<shape<2, 3, 4>>>(ctx, 3, 5);
  CHECK(r2.max_input_error < 1e-7);
}
TEST_CASE_TEMPLATE_APPLY(dropout_grad, host_contexts);

TEST_CASE_TEMPLATE("dropout keeps 1 - P of the elements and scales them by 1/(1-P)", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = dropout_t<0.3f>::bound<shape<1000>>;
  Ctx ctx{};
  ctx.threads = 2;
  constexpr std::size_t batch = 100;
  const auto x = ones(batch * 1000);
  const auto y = run_forward<B>(ctx, x, batch, 1, 0, 0);
  const float scale = 1.0f / (1.0f - 0.3f);
  std::size_t kept = 0;
  bool only_zero_or_scaled = true;
  for (float v : y) {
    kept += v != 0.0f;
    only_zero_or_scaled &= v == 0.0f || v == scale;
  }
  CHECK(only_zero_or_scaled);
  // 1e5 draws: the standard deviation of the kept fraction is 0.0014.
  CHECK(double(kept) / double(y.size()) == doctest::Approx(0.7).epsilon(0.01 / 0.7));
  // The mean is preserved in expectation.
  double sum = 0;
  for (float v : y) sum += v;
  CHECK(sum / double(y.size()) == doctest::Approx(1.0).epsilon(0.02));
  // P = 0 keeps everything; evaluation mode is the identity.
  CHECK(run_forward<dropout_t<0.0f>::bound<shape<1000>>>(ctx, x, batch, 1, 0, 0) == x);
  const auto xr = test::random_vector(batch * 1000, 4);
  CHECK(run_forward<B>(ctx, xr, batch, 1, 0, 0, false) == xr);
}

TEST_CASE_TEMPLATE("a sample's mask does not depend on how the batch is split", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = dropout_t<0.5f>::bound<shape<4, 8>>;
  constexpr std::size_t N = 32, batch = 10;
  Ctx ctx{};
  ctx.threads = 2;
  const auto x = test::random_vector(batch * N, 3);
  const auto whole = run_forward<B>(ctx, x, batch, 7, 11, 0);
  for (std::size_t cut : {std::size_t{5}, std::size_t{3}, std::size_t{1}}) {
    const std::vector<double> head(x.begin(), x.begin() + cut * N), tail(x.begin() + cut * N, x.end());
    auto y = run_forward<B>(ctx, head, cut, 7, 11, 0);
    const auto y2 = run_forward<B>(ctx, tail, batch - cut, 7, 11, cut);
    y.insert(y.end(), y2.begin(), y2.end());
    CHECK(y == whole);
  }
  // The other host system draws the same mask, and so does float.
  CHECK(run_forward<B>(host_context<sequential>{}, x, batch, 7, 11, 0) == whole);
  std::vector<float> xf(x.begin(), x.end());
  const auto yf = run_forward<B>(ctx, xf, batch, 7, 11, 0);
  for (std::size_t i = 0; i < whole.size(); ++i) CHECK((yf[i] == 0.0f) == (whole[i] == 0.0));
  // ... while a different step, seed or first sample draws another.
  CHECK(run_forward<B>(ctx, x, batch, 7, 12, 0) != whole);
  CHECK(run_forward<B>(ctx, x, batch, 8, 11, 0) != whole);
  CHECK(run_forward<B>(ctx, x, batch, 7, 11, 1) != whole);
  CHECK(run_forward<B>(ctx, x, batch, 7, 11, 0) == whole);
}

TEST_CASE("different step gives a different mask, nearly independent of the first") {
  using B = dropout_t<0.5f>::bound<shape<1000>>;
  host_context<sequential> ctx{};
  const auto x = ones(20 * 1000);
  const auto a = run_forward<B>(ctx, x, 20, 1, 0, 0), b = run_forward<B>(ctx, x, 20, 1, 1, 0);
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += (a[i] == 0.0f) == (b[i] == 0.0f);
  CHECK(double(same) / double(a.size()) == doctest::Approx(0.5).epsilon(0.03));
  // Samples of one batch get different masks too.
  CHECK(!std::equal(a.begin(), a.begin() + 1000, a.begin() + 1000));
}

TEST_CASE("layers with the same input size and P share a mask unless their streams differ") {
  host_context<sequential> ctx{};
  const auto x = ones(4 * 64);
  const auto a = run_forward<dropout_t<0.5f>::bound<shape<64>>>(ctx, x, 4, 1, 2, 0);
  CHECK(run_forward<dropout_t<0.5f>::bound<shape<64>>>(ctx, x, 4, 1, 2, 0) == a);
  CHECK(run_forward<dropout_t<0.5f, 1>::bound<shape<64>>>(ctx, x, 4, 1, 2, 0) != a);
  CHECK(run_forward<dropout_t<0.5f>::bound<shape<8, 8>>>(ctx, x, 4, 1, 2, 0) == a);  // same size: same key
  CHECK(dropout_t<0.5f>::bound<shape<64>>::layer_key != dropout_t<0.5f>::bound<shape<65>>::layer_key);
  CHECK(dropout_t<0.5f>::bound<shape<64>>::layer_key != dropout_t<0.4f>::bound<shape<64>>::layer_key);
}

TEST_CASE_TEMPLATE("dropout backward applies the forward's mask, in place or not", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = dropout_t<0.25f>::bound<shape<50>>;
  constexpr std::size_t batch = 6, n = batch * 50;
  Ctx ctx{};
  ctx.threads = 2;
  const auto x = test::random_vector(n, 1, 0.5, 1.5);  // no zeros: y == 0 exactly where dropped
  const auto y = run_forward<B>(ctx, x, batch, 3, 9, 40);
  auto dy = test::random_vector(n, 2);
  std::vector<double> dx(n);
  auto inplace = dy;
  B::backward(ctx, backward_args<double>{nullptr, x.data(), y.data(), nullptr, dy.data(), dx.data(), nullptr, batch,
                                         false, nullptr, 3, 9, 40});
  B::backward(ctx, backward_args<double>{nullptr, x.data(), y.data(), nullptr, inplace.data(), inplace.data(), nullptr,
                                         batch, false, nullptr, 3, 9, 40});
  for (std::size_t i = 0; i < n; ++i) CHECK(dx[i] == (y[i] == 0 ? 0.0 : dy[i] * (1 / (1 - 0.25))));
  CHECK(inplace == dx);
}

namespace {
constexpr auto mlp =
    input<12> >> linear<32> >> relu >> dropout<0.3f> >> linear<16> >> relu >> dropout<0.3f, 1> >> linear<5>;
struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed) : x(n * 12), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(5));
  }
  samples<shape<12>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};
}  // namespace

// The policy-independence property end to end: with dropout on, replicate<N> trains as one device
// on the same global batches, up to float reassociation (tolerance as in policy/replicate_test.cpp).
TEST_CASE_TEMPLATE("with dropout, replicate<N> still trains as one device", P, replicate<2>, replicate<3>) {
  constexpr std::size_t N = P::device_count;
  auto single = place(mlp, host_device(), {.max_batch = 24, .seed = 9});
  auto multi = place<P>(mlp, host_devices(N), {.max_batch = 24, .seed = 9});
  auto o1 = sgd{.lr = 0.1f, .momentum = 0.9f}, o2 = o1;
  for (std::uint64_t s = 0; s < 5; ++s) {
    const batch_set b(24 - (s % 2), 100 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    CHECK(multi.train_step(b.xs(), b.ys(), cross_entropy, o2) == doctest::Approx(l1).epsilon(1e-5));
  }
  auto a = multi.parameters(0), b = single.parameters();
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(0.05, std::abs(double(b[i]))));
  CHECK(worst < 2e-5);
}

// Under a pipeline the same samples meet the same masks, micro-batch by micro-batch, and backward
// (run after other micro-batches' forwards) recomputes the forward's mask.
TEST_CASE_TEMPLATE("with dropout, pipeline<2, microbatches<3>> trains as one device", S, gpipe, one_f_one_b) {
  auto single = place(mlp, host_device(), {.max_batch = 24, .seed = 9});
  auto piped = place<pipeline<2, microbatches<3>, S>>(mlp, host_devices(2), {.max_batch = 24, .seed = 9});
  auto o1 = sgd{.lr = 0.1f, .momentum = 0.9f}, o2 = o1;
  for (std::uint64_t s = 0; s < 5; ++s) {
    const batch_set b(24, 200 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    CHECK(piped.train_step(b.xs(), b.ys(), cross_entropy, o2) == doctest::Approx(l1).epsilon(1e-5));
  }
  const std::span<const float> p0 = piped.parameters(0), p1 = piped.parameters(1), r = single.parameters();
  std::vector<float> joined(p0.begin(), p0.end());
  joined.insert(joined.end(), p1.begin(), p1.end());
  REQUIRE(joined.size() == r.size());
  double worst = 0;
  for (std::size_t i = 0; i < r.size(); ++i)
    worst = std::max(worst, std::abs(double(joined[i]) - double(r[i])) / std::max(0.05, std::abs(double(r[i]))));
  CHECK(worst < 2e-5);
}

TEST_CASE("predict runs without dropout: the same numbers as the graph without it") {
  constexpr auto plain = input<12> >> linear<32> >> relu >> linear<16> >> relu >> linear<5>;
  auto m = place(mlp, host_device(), {.max_batch = 8, .seed = 1});
  auto q = place(plain, host_device(), {.max_batch = 8});
  const batch_set b(8, 3);
  auto opt = sgd{.lr = 0.1f};
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  auto copy = [](std::span<float> from, std::span<float> to) { std::copy(from.begin(), from.end(), to.begin()); };
  copy(m.layer_parameters<0>(), q.layer_parameters<0>());
  copy(m.layer_parameters<2>(), q.layer_parameters<1>());
  copy(m.layer_parameters<4>(), q.layer_parameters<2>());
  const auto y1 = m.predict(b.xs());
  const std::vector<float> first(y1.data, y1.data + 8 * 5);
  const auto y2 = q.predict(b.xs());
  CHECK(std::equal(first.begin(), first.end(), y2.data));
  const auto y3 = m.predict(b.xs());
  CHECK(std::equal(first.begin(), first.end(), y3.data));
}
