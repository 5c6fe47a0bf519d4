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
