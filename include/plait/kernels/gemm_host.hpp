#pragma once
// GEMM on host devices through CBLAS (OpenBLAS), float and double.

#include <cblas.h>

#include "../backend/host/backend.hpp"
#include "gemm.hpp"

namespace plait {

template <class System>
struct gemm_impl<host<System>> {
  static CBLAS_TRANSPOSE op(transpose t) { return t == transpose::yes ? CblasTrans : CblasNoTrans; }

  template <class Ctx>
  static void run(const Ctx&, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                  const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                  std::size_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, op(ta), op(tb), int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c,
                int(ldc));
  }

  template <class Ctx>
  static void run(const Ctx&, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
                  const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta, double* c,
                  std::size_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_dgemm(CblasRowMajor, op(ta), op(tb), int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c,
                int(ldc));
  }
};

}  // namespace plait
