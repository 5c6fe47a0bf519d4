#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/layers/embedding.hpp>

using namespace plait;
using test::host_contexts;

TEST_CASE("embedding maps shape<T> to shape<T, Dim> with a [Vocab, Dim] table") {
  using B = embedding_t<10, 4>::bound<shape<6>>;
  static_assert(std::is_same_v<B::out_shape, shape<6, 4>>);
  static_assert(B::param_count == 40 && B::saved_count == 0 && !B::is_view);
  static_assert(std::is_same_v<output_shape_t<decltype(input<6> >> embedding<10, 4> >> flatten)>, shape<24>>);
}

TEST_CASE_TEMPLATE("embedding forward copies the table row of each token", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = embedding_t<4, 2>::bound<shape<3>>;
  Ctx ctx{};
  ctx.threads = 2;
  const std::vector<float> table{0, 1, /**/ 10, 11, /**/ 20, 21, /**/ 30, 31};
  const std::vector<float> ids{3, 0, 3, /**/ 1, 2, 1};
  std::vector<float> y(12, -1);
  B::forward(ctx, forward_args<float>{table.data(), ids.data(), y.data(), nullptr, 2});
  CHECK(y == std::vector<float>{30, 31, 0, 1, 30, 31, /**/ 10, 11, 20, 21, 10, 11});
}

// L = sum(w * y) for fixed w: the table's gradient by central differences, ids held fixed
// (gradcheck.hpp would perturb the ids too, which is meaningless for integers).
TEST_CASE_TEMPLATE_DEFINE("embedding table gradient matches finite differences", Ctx, embedding_grad) {
  using B = embedding_t<7, 5>::bound<shape<4>>;
  Ctx ctx{};
  ctx.threads = 2;
  constexpr std::size_t batch = 3, out = batch * 4 * 5;
  auto table = test::random_vector(B::param_count, 1);
  const std::vector<double> ids{2, 0, 2, 6, /**/ 6, 6, 1, 2, /**/ 0, 3, 2, 5};  // repeats in and across samples
  const auto w = test::random_vector(out, 2);
  auto loss = [&] {
    std::vector<double> y(out);
    B::forward(ctx, forward_args<double>{table.data(), ids.data(), y.data(), nullptr, batch});
    double l = 0;
    for (std::size_t i = 0; i < out; ++i) l += w[i] * y[i];
    return l;
  };
  std::vector<double> y(out), dy = w, dtable(B::param_count, 123.0);
  B::forward(ctx, forward_args<double>{table.data(), ids.data(), y.data(), nullptr, batch});
  B::backward(ctx, backward_args<double>{table.data(), ids.data(), y.data(), nullptr, dy.data(), nullptr, dtable.data(),
                                         batch, false});
  double worst = 0;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const double keep = table[i], h = 1e-6;
    table[i] = keep + h;
    const double up = loss();
    table[i] = keep - h;
    const double down = loss();
    table[i] = keep;
    worst = std::max(worst, std::abs(dtable[i] - (up - down) / (2 * h)));
  }
  CHECK(worst < 1e-8);
  for (std::size_t d = 0; d < 5; ++d) CHECK(dtable[4 * 5 + d] == 0);  // id 4 appears nowhere
}
TEST_CASE_TEMPLATE_APPLY(embedding_grad, host_contexts);

TEST_CASE_TEMPLATE("repeated ids accumulate their rows; accumulate adds; dx is zero", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  using B = embedding_t<3, 70>::bound<shape<4>>;  // Dim 70 crosses the 64-column task blocks
  Ctx ctx{};
  ctx.threads = 2;
  const std::vector<double> table(B::param_count, 0.5), ids{1, 1, 1, 2, /**/ 1, 2, 2, 1};
  std::vector<double> y(2 * 4 * 70), dtable(B::param_count, 9.0), dx(8, 7.0);
  std::vector<double> dy(2 * 4 * 70);
  for (std::size_t r = 0; r < 8; ++r)
    for (std::size_t d = 0; d < 70; ++d) dy[r * 70 + d] = double(r + 1) + 0.001 * double(d);
  B::forward(ctx, forward_args<double>{table.data(), ids.data(), y.data(), nullptr, 2});
  auto run = [&](bool acc) {
    auto g = dy;
    B::backward(ctx, backward_args<double>{table.data(), ids.data(), y.data(), nullptr, g.data(), dx.data(),
                                           dtable.data(), 2, acc});
  };
  run(false);
  for (std::size_t d = 0; d < 70; ++d) {
    const double e = 0.001 * double(d);
    CHECK(dtable[d] == 0);                                                // id 0: never seen
    CHECK(dtable[70 + d] == doctest::Approx(1 + 2 + 3 + 5 + 8 + 5 * e));  // id 1: rows 0, 1, 2, 4, 7
    CHECK(dtable[140 + d] == doctest::Approx(4 + 6 + 7 + 3 * e));         // id 2: rows 3, 5, 6
  }
  CHECK(dx == std::vector<double>(8, 0.0));
  const auto once = dtable;
  run(true);
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(dtable[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("a bad token id is a plait error naming the id and the sample, before any memory is read") {
  using B = embedding_t<20, 3>::bound<shape<4>>;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  const std::vector<float> table(B::param_count, 1.0f);
  std::vector<float> y(3 * 4 * 3, -5.0f);
  auto forward = [&](std::vector<float> ids, std::size_t first_sample = 0) {
    forward_args<float> a{table.data(), ids.data(), y.data(), nullptr, ids.size() / 4};
    a.first_sample = first_sample;
    B::forward(ctx, a);
  };
  CHECK_THROWS_WITH_AS(forward({0, 1, 2, 3, /**/ 4, 5, 20, 6}),
                       "plait: embedding<20, 3> is given token id 20 at step 2 of sample 1. token ids are floats "
                       "holding integers in [0, 20). Fix: map every token into [0, 20) before training, or raise "
                       "Vocab.",
                       plait::error);
  CHECK_THROWS_WITH_AS(forward({-1, 1, 2, 3}), doctest::Contains("token id -1 at step 0 of sample 0"), plait::error);
  CHECK_THROWS_WITH_AS(forward({1, 2.5f, 2, 3}), doctest::Contains("token id 2.5 at step 1"), plait::error);
  CHECK_THROWS_WITH_AS(forward({1, 2, 3, std::nanf("")}), doctest::Contains("token id nan at step 3"), plait::error);
  CHECK_THROWS_WITH_AS(forward({0, 0, 0, 0, /**/ 1e9f, 0, 0, 0}, 40), doctest::Contains("1e+09 at step 0 of sample 41"),
                       plait::error);
  CHECK(y == std::vector<float>(3 * 4 * 3, -5.0f));  // nothing was written
  forward({19, 0, 7, 19});
  CHECK(y[0] == 1.0f);

  std::vector<float> dtable(B::param_count, 3.0f), dy(4 * 3, 1.0f), ids{0, 21, 0, 0};
  CHECK_THROWS_WITH_AS(B::backward(ctx, backward_args<float>{table.data(), ids.data(), y.data(), nullptr, dy.data(),
                                                             nullptr, dtable.data(), 1, false}),
                       doctest::Contains("token id 21 at step 1 of sample 0"), plait::error);
  CHECK(dtable == std::vector<float>(B::param_count, 3.0f));
}

TEST_CASE("embedding init is N(0, 1) and depends on the seed") {
  using B = embedding_t<1000, 51>::bound<shape<2>>;  // an odd count: the last normal is half a pair
  std::vector<double> a(B::param_count, 1e9), b(B::param_count);
  splitmix64 r1(1), r2(2);
  B::init(a.data(), r1);
  B::init(b.data(), r2);
  double mean = 0, var = 0, most = 0;
  for (double v : a) mean += v / double(a.size());
  for (double v : a) var += (v - mean) * (v - mean) / double(a.size());
  for (double v : a) most = std::max(most, std::abs(v));
  CHECK(std::abs(mean) < 0.02);     // 51000 draws: sd of the mean ~0.0044
  CHECK(std::abs(var - 1) < 0.03);  // sd of the variance ~0.0063
  CHECK(most > 3.5);                // tails are there
  CHECK(most < 6);                  // and finite
  CHECK(a != b);
}
