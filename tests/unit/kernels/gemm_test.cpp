#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

using namespace plait;

TEST_CASE_TEMPLATE("gemm on row-major matrices, all transposes, float and double", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  Ctx ctx{};
  const std::size_t m = 5, n = 3, k = 4;
  const auto a = test::random_vector(m * k, 1), b = test::random_vector(k * n, 2), c0 = test::random_vector(m * n, 3);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // Store A as [m,k] or its transpose [k,m]; likewise B.
      std::vector<double> as(m * k), bs(k * n);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < k; ++j) (ta ? as[j * m + i] : as[i * k + j]) = a[i * k + j];
      for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < n; ++j) (tb ? bs[j * k + i] : bs[i * n + j]) = b[i * n + j];
      auto c = c0;
      gemm(ctx, transpose(ta), transpose(tb), m, n, k, 2.0, as.data(), ta ? m : k, bs.data(), tb ? k : n, 0.5, c.data(),
           n);
      std::vector<float> af(as.begin(), as.end()), bf(bs.begin(), bs.end()), cf(c0.begin(), c0.end());
      gemm(ctx, transpose(ta), transpose(tb), m, n, k, 2.0f, af.data(), ta ? m : k, bf.data(), tb ? k : n, 0.5f,
           cf.data(), n);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          double s = 0;
          for (std::size_t l = 0; l < k; ++l) s += a[i * k + l] * b[l * n + j];
          CHECK(c[i * n + j] == doctest::Approx(2 * s + 0.5 * c0[i * n + j]));
          CHECK(cf[i * n + j] == doctest::Approx(2 * s + 0.5 * c0[i * n + j]).epsilon(1e-5));
        }
    }
}
