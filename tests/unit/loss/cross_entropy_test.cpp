#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

using namespace plait;

namespace {
double ce(const std::vector<double>& z, const std::vector<std::int32_t>& y, std::size_t C) {
  std::vector<double> rows(y.size());
  host_context<sequential> ctx{};
  cross_entropy_loss::rows<shape<4>>(ctx, z.data(), class_labels{y.data(), y.size()}, static_cast<double*>(nullptr),
                                     rows.data(), double(y.size()));
  (void)C;
  double s = 0;
  for (double r : rows) s += r;
  return s / double(y.size());
}
}  // namespace

TEST_CASE_TEMPLATE("cross_entropy gradient matches finite differences", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  Ctx ctx{};
  const std::vector<std::int32_t> y{0, 3, 2};
  auto z = test::random_vector(3 * 4, 9, -3, 3);
  std::vector<double> dz(z.size()), rows(3);
  cross_entropy_loss::rows<shape<4>>(ctx, z.data(), class_labels{y.data(), 3}, dz.data(), rows.data(), 3.0);
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double keep = z[i];
    z[i] = keep + 1e-6;
    const double up = ce(z, y, 4);
    z[i] = keep - 1e-6;
    const double down = ce(z, y, 4);
    z[i] = keep;
    CHECK(dz[i] == doctest::Approx((up - down) / 2e-6).epsilon(1e-6));
  }
}

TEST_CASE("cross_entropy of equal logits is log C, and is stable for large logits") {
  const std::vector<std::int32_t> y{1, 2};
  CHECK(ce({0, 0, 0, 0, 5, 5, 5, 5}, y, 4) == doctest::Approx(std::log(4.0)));
  CHECK(ce({0, 1000, 0, 0, 0, 0, 1000, 0}, y, 4) == doctest::Approx(0.0));
}

TEST_CASE("a label outside [0, C) is a plait error, before any memory is read") {
  const std::vector<std::int32_t> y{0, 4};
  CHECK_THROWS_WITH_AS(cross_entropy_loss::validate(class_labels{y.data(), 2}, 4),
                       doctest::Contains("plait: label 4 of sample 1 is outside [0, 4)"), plait::error);
  const std::vector<std::int32_t> neg{-1};
  CHECK_THROWS_AS(cross_entropy_loss::validate(class_labels{neg.data(), 1}, 4), plait::error);
}

TEST_CASE("float softmax exponentials: within 2 ulp of e^x on [-87.3, 0], 0 below, NaN kept") {
  double worst = 0;
  for (float x = 0; x > -87.33f; x -= 0.001237f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::abs(double(detail::softmax_exp(x)) - want) / want);
  }
  CHECK(worst < 2 * std::ldexp(1.0, -24));
  CHECK(detail::softmax_exp(0.0f) == 1.0f);
  CHECK(detail::softmax_exp(-88.0f) == 0.0f);
  CHECK(detail::softmax_exp(-1e30f) == 0.0f);
  CHECK(detail::softmax_exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isnan(detail::softmax_exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("float cross_entropy: the double computation's loss and gradient, rows of any count; a NaN logit shows") {
  constexpr std::size_t C = 10, B = 203;  // more rows than one block of the host's passes
  host_context<sequential> ctx{};
  const auto zd = test::random_vector(B * C, 4, -20, 20);
  std::vector<float> z(zd.begin(), zd.end());
  std::vector<std::int32_t> y(B);
  for (std::size_t r = 0; r < B; ++r) y[r] = std::int32_t((r * 7) % C);
  std::vector<float> dz(B * C), rows(B);
  std::vector<double> dzd(B * C), rowsd(B);
  std::vector<double> zr(z.begin(), z.end());  // the float logits, in double
  cross_entropy_loss::rows<shape<C>>(ctx, z.data(), class_labels{y.data(), B}, dz.data(), rows.data(), float(B));
  cross_entropy_loss::rows<shape<C>>(ctx, zr.data(), class_labels{y.data(), B}, dzd.data(), rowsd.data(), double(B));
  for (std::size_t r = 0; r < B; ++r) CHECK(rows[r] == doctest::Approx(rowsd[r]).epsilon(1e-5));
  // the label's entry p - 1/B cancels where p is near 1: float's rounding of 1/B (about 3e-10 here) bounds it
  for (std::size_t i = 0; i < B * C; ++i) CHECK(std::abs(double(dz[i]) - dzd[i]) <= 1e-5 * std::abs(dzd[i]) + 1e-9);
  std::vector<float> eval(B);  // without a gradient: the same losses
  cross_entropy_loss::rows<shape<C>>(ctx, z.data(), class_labels{y.data(), B}, static_cast<float*>(nullptr),
                                     eval.data(), float(B));
  for (std::size_t r = 0; r < B; ++r) CHECK(eval[r] == rows[r]);
  z[5 * C + 3] = std::numeric_limits<float>::quiet_NaN();
  cross_entropy_loss::rows<shape<C>>(ctx, z.data(), class_labels{y.data(), B}, dz.data(), rows.data(), float(B));
  CHECK(std::isnan(rows[5]));
  CHECK(!std::isnan(rows[4]));
}
