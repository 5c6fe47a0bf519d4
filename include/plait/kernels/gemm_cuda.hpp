#pragma once
// GEMM on CUDA devices through cuBLAS, float and double, on the context's stream and handle (whose
// math mode is the context's: float32, or TF32 tensor cores).
//
// cuBLAS is column-major. A row-major matrix M [r, c] with row stride ld is, read column-major,
// M^T [c, r] with leading dimension ld. So the row-major C = op(A) op(B) is computed as the
// column-major C^T = op(B)^T op(A)^T: cuBLAS is given B first, A second, n and m swapped, and each
// operand's own transpose flag (op(X)^T of the column-major view of X is X's flag applied to it).

#include <cublas_v2.h>

#include "../backend/cublas_error.hpp"
#include "../backend/cuda.hpp"
#include "../core/error.hpp"
#include "gemm.hpp"

namespace plait {

template <>
struct gemm_impl<cuda> {
  static cublasOperation_t op(transpose t) { return t == transpose::yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

  template <class Ctx, class T, class Call>
  static void run_with(const Ctx& ctx, const char* name, Call call, transpose ta, transpose tb, std::size_t m,
                       std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                       T beta, T* c, std::size_t ldc) {
    if (m == 0 || n == 0) return;
    const cublasStatus_t s = call(ctx.blas(), op(tb), op(ta), int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda),
                                  &beta, c, int(ldc));
    if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]]
      cuda_detail::cublas_check(s, cat(name, " (m ", m, ", n ", n, ", k ", k, ")"), ctx.device);
  }

  template <class Ctx>
  static void run(const Ctx& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                  const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                  std::size_t ldc) {
    run_with(ctx, "cublasSgemm", cublasSgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  template <class Ctx>
  static void run(const Ctx& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
                  const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta, double* c,
                  std::size_t ldc) {
    run_with(ctx, "cublasDgemm", cublasDgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

}  // namespace plait
