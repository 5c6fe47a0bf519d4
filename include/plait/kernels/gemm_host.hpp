#pragma once
// GEMM on host devices. Double products, and float products under host_math::float32 (the default),
// through CBLAS (OpenBLAS): one call per product, no primitive to create per shape, no allocation.
// oneDNN's float32 products are faster on some shapes and slower on others, by machine
// (bench/run gemm_libraries), so none of them moves there without a choice per shape. Float products under host_math::bf16 through oneDNN's bf16 matmul
// (detail/bf16_products.hpp): OpenBLAS 0.3.21 has no bf16 product that takes float32 operands and
// writes float32 with a scale and beta, and oneDNN picks AMX or AVX-512 BF16 kernels by CPU.

#include <cblas.h>

#include "../backend/host/backend.hpp"
#include "detail/bf16_products.hpp"
#include "gemm.hpp"

namespace plait {

template <class System>
struct gemm_impl<host<System>> {
  static CBLAS_TRANSPOSE op(transpose t) { return t == transpose::yes ? CblasTrans : CblasNoTrans; }

  template <class Ctx>
  static void run(const Ctx& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                  const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                  std::size_t ldc) {
    if (m == 0 || n == 0) return;
    if constexpr (requires { ctx.bf16_state; }) {
      if (ctx.math == host_math::bf16) {
        host_detail::bf16_products::of(ctx).multiply(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
      }
    }
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
