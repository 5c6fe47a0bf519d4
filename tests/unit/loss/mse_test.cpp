#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

using namespace plait;

TEST_CASE_TEMPLATE("mse: value as PyTorch's mean over elements, gradient by finite differences", Ctx,
                   host_context<sequential>, host_context<openmp>) {
  Ctx ctx{};
  auto o = test::random_vector(2 * 3, 1);
  const auto t = test::random_vector(2 * 3, 2);
  auto loss = [&] {
    std::vector<double> rows(2);
    mse_loss::rows<shape<3>>(ctx, o.data(), samples<shape<3>, double>{t.data(), 2}, static_cast<double*>(nullptr),
                             rows.data(), 2.0);
    return (rows[0] + rows[1]) / 2;
  };
  double expect = 0;
  for (std::size_t i = 0; i < o.size(); ++i) expect += (o[i] - t[i]) * (o[i] - t[i]);
  CHECK(loss() == doctest::Approx(expect / 6));

  std::vector<double> d(6), rows(2);
  mse_loss::rows<shape<3>>(ctx, o.data(), samples<shape<3>, double>{t.data(), 2}, d.data(), rows.data(), 2.0);
  for (std::size_t i = 0; i < o.size(); ++i) {
    const double keep = o[i];
    o[i] = keep + 1e-6;
    const double up = loss();
    o[i] = keep - 1e-6;
    const double down = loss();
    o[i] = keep;
    CHECK(d[i] == doctest::Approx((up - down) / 2e-6).epsilon(1e-6));
  }
}
