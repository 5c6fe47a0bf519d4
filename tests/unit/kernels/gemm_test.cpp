#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <cmath>

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

// A weight gradient with small weights runs on oneDNN's dnnl_sgemm, every other float32 product on
// OpenBLAS (kernels/gemm_host.hpp); on one thread the number of samples (k) never enters.
static_assert(!host_sgemm_onednn_enabled ||
              sgemm_library_for(transpose::yes, 64, 64, 32) == host_sgemm_library::onednn);
static_assert(!host_sgemm_onednn_enabled ||
              sgemm_library_for(transpose::yes, 64, 64, 100000) == host_sgemm_library::onednn);
static_assert(!host_sgemm_onednn_enabled ||
              sgemm_library_for(transpose::yes, 128, 784, 1) == host_sgemm_library::onednn);
static_assert(sgemm_library_for(transpose::yes, 512, 512, 8) == host_sgemm_library::openblas);
static_assert(!host_sgemm_onednn_enabled ||
              sgemm_library_for(transpose::yes, host_sgemm_small_weights, 1, 8) == host_sgemm_library::onednn);
static_assert(sgemm_library_for(transpose::yes, host_sgemm_small_weights + 1, 1, 8) == host_sgemm_library::openblas);
// A product over no samples (C = beta C) goes to OpenBLAS: dnnl_sgemm refuses k = 0.
static_assert(sgemm_library_for(transpose::yes, 64, 64, 0) == host_sgemm_library::openblas);
// Forwards and input gradients stay on OpenBLAS: oneDNN allocates on every such call.
static_assert(sgemm_library_for(transpose::no, 32, 64, 64) == host_sgemm_library::openblas);
static_assert(sgemm_library_for(transpose::no, 1, 10, 10) == host_sgemm_library::openblas);
// On a device of several threads oneDNN (which runs on one) takes only products OpenBLAS would run on one.
static_assert(!host_sgemm_onednn_enabled ||
              sgemm_library_for(transpose::yes, 64, 64, 64, 4) == host_sgemm_library::onednn);
static_assert(sgemm_library_for(transpose::yes, 64, 64, 65, 4) == host_sgemm_library::openblas);

// A product is split over a device's threads only above OpenBLAS's own one-thread size, along the larger of
// m and n, in parts of whole 16-wide blocks, at most one per thread.
static_assert(sgemm_parts(32, 64, 64, 2) == 1);     // 131072 multiply-adds: one call
static_assert(sgemm_parts(128, 256, 784, 1) == 1);  // one thread
static_assert(sgemm_parts(128, 256, 784, 2) == 2 && !sgemm_splits_rows(128, 256));
static_assert(sgemm_parts(1024, 10, 256, 4) == 4 && sgemm_splits_rows(1024, 10));
static_assert(sgemm_parts(20, 20, 100000, 4) == 1);  // 20 rows: one block of 16 (and a part of 4)
static_assert(sgemm_parts(40, 20, 100000, 8) == 2);  // two whole blocks: two parts
static_assert(host_detail::split_at(100, 0, 3) == 0 && host_detail::split_at(100, 1, 3) == 32 &&
              host_detail::split_at(100, 2, 3) == 64 && host_detail::split_at(100, 3, 3) == 100);
static_assert(host_detail::split_at(40, 1, 2) == 16 && host_detail::split_at(40, 2, 2) == 40);

TEST_CASE("float32 products on both libraries: transposes, strides, alpha and beta against a double reference") {
  for (unsigned threads : {1u, 2u}) {
    CAPTURE(threads);
    host_context<openmp> ctx{};
    ctx.threads = threads;
    ctx.enter();
    const int team = omp_get_max_threads();  // the device's threads (PLAIT_MAX_THREADS may cap them)
    // {m, n, k}: transposed A (a weight gradient) on oneDNN for the first two, every product of the next
    // two and every product without a transposed A on OpenBLAS; the last has no samples (C = beta C). On two
    // threads the third and fourth are split (by rows, by columns), strides and all.
    const std::size_t shapes[][3] = {{7, 24, 40}, {33, 65, 17}, {520, 400, 3}, {300, 520, 9}, {5, 6, 0}};
    for (const auto& s : shapes)
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (float beta : {0.25f, 0.0f}) {
            const std::size_t m = s[0], n = s[1], k = s[2];
            CAPTURE(m);
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(beta);
            const bool on_onednn = sgemm_library_for(transpose(ta), m, n, k) == host_sgemm_library::onednn;
            CAPTURE(on_onednn);
            // Row strides 3 elements past the stored rows: the libraries must honour lda, ldb and ldc.
            const std::size_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 3;
            const auto a = test::random_vector((ta ? k : m) * lda, 4), b = test::random_vector((tb ? n : k) * ldb, 5),
                       c0 = test::random_vector(m * ldc, 6);
            std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), cf(c0.begin(), c0.end());
            if (beta == 0.0f)  // beta = 0: C is not read, NaN included (BLAS's rule)
              for (std::size_t i = 0; i < m; ++i) std::fill_n(cf.begin() + std::ptrdiff_t(i * ldc), n, std::nanf(""));
            gemm(ctx, transpose(ta), transpose(tb), m, n, k, 1.5f, af.data(), lda, bf.data(), ldb, beta, cf.data(),
                 ldc);
            double worst = 0;
            for (std::size_t i = 0; i < m; ++i)
              for (std::size_t j = 0; j < ldc; ++j) {
                if (j >= n) {  // the padding between rows is never written
                  REQUIRE(cf[i * ldc + j] == float(c0[i * ldc + j]));
                  continue;
                }
                double sum = 0;
                for (std::size_t l = 0; l < k; ++l)
                  sum += double(af[ta ? l * lda + i : i * lda + l]) * double(bf[tb ? j * ldb + l : l * ldb + j]);
                const double want = 1.5 * sum + (beta == 0.0f ? 0.0 : double(beta) * double(float(c0[i * ldc + j])));
                REQUIRE(std::isfinite(cf[i * ldc + j]));
                worst = std::max(worst, std::abs(double(cf[i * ldc + j]) - want) / (1 + std::abs(want)));
              }
            CHECK(worst < 1e-5);
            CHECK(omp_get_max_threads() == team);  // a product on oneDNN gives the device's threads back
          }
  }
  host_context<sequential>{}.enter();
}

TEST_CASE("a split product gives the same bits every time, and a product inside a parallel region runs whole") {
  host_context<openmp> ctx{};
  ctx.threads = 2;
  ctx.enter();
  const std::size_t m = 96, n = 200, k = 300;  // split by columns on two threads
  const auto a = test::random_vector(m * k, 7), b = test::random_vector(k * n, 8);
  const std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
  std::vector<float> first(m * n), again(m * n), inside[2];
  gemm(ctx, transpose::no, transpose::no, m, n, k, 1.0f, af.data(), k, bf.data(), n, 0.0f, first.data(), n);
  gemm(ctx, transpose::no, transpose::no, m, n, k, 1.0f, af.data(), k, bf.data(), n, 0.0f, again.data(), n);
  CHECK(first == again);
  // Two callers at once (as two devices' threads would be inside a team): each runs its product on its own thread.
#pragma omp parallel num_threads(2)
  {
    std::vector<float>& c = inside[omp_get_thread_num()];
    c.assign(m * n, 0.0f);
    gemm(ctx, transpose::no, transpose::no, m, n, k, 1.0f, af.data(), k, bf.data(), n, 0.0f, c.data(), n);
  }
  for (const std::vector<float>& c : inside) {
    double worst = 0;
    for (std::size_t i = 0; i < m * n; ++i)
      worst = std::max(worst, std::abs(double(c[i]) - double(first[i])) / (1 + std::abs(double(first[i]))));
    CHECK(worst < 1e-5);
  }
  host_context<sequential>{}.enter();
}
