#pragma once
// GEMM on CUDA devices through cuBLAS, float and double, on the context's stream and handle. Float
// products follow the context's cuda_math: float32 and tf32 are cublasSgemm under the handle's math
// mode; bf16 is cublasGemmEx on the same float32 matrices with compute type CUBLAS_COMPUTE_32F_FAST_16BF
// (A and B rounded to bfloat16 as they are read, float32 accumulation, C read and written as float32).
// Double products are cublasDgemm in every mode.
//
// cuBLAS is column-major. A row-major matrix M [r, c] with row stride ld is, read column-major,
// M^T [c, r] with leading dimension ld. So the row-major C = op(A) op(B) is computed as the
// column-major C^T = op(B)^T op(A)^T: cuBLAS is given B first, A second, n and m swapped, and each
// operand's own transpose flag (op(X)^T of the column-major view of X is X's flag applied to it).

#include <cublas_v2.h>

#include "../backend/cuda/backend.hpp"
#include "../backend/cuda/cublas_error.hpp"
#include "../core/error.hpp"
#include "gemm.hpp"

namespace plait {

template <>
struct gemm_impl<cuda> {
  static cublasOperation_t op(transpose t) { return t == transpose::yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

  // cublasSgemm's signature, for cuda_math::bf16: every matrix float32 in memory, the products on
  // bfloat16 tensor cores.
  static cublasStatus_t gemm_ex_bf16(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                     const float* alpha, const float* a, int lda, const float* b, int ldb,
                                     const float* beta, float* c, int ldc) {
    return cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c, CUDA_R_32F, ldc,
                        CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT);
  }

  template <class Ctx, class T, class Call>
  static void run_with(const Ctx& ctx, const char* name, Call call, transpose ta, transpose tb, std::size_t m,
                       std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                       T beta, T* c, std::size_t ldc) {
    if (m == 0 || n == 0) return;
    const cublasStatus_t s =
        call(ctx.blas(), op(tb), op(ta), int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda), &beta, c, int(ldc));
    if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]]
      cuda_detail::cublas_check(s, cat(name, " (m ", m, ", n ", n, ", k ", k, ")"), ctx.device);
  }

  template <class Ctx>
  static void run(const Ctx& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                  const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                  std::size_t ldc) {
    if (ctx.math() == cuda_math::bf16)
      run_with(ctx, "cublasGemmEx (float32 storage, CUBLAS_COMPUTE_32F_FAST_16BF)", gemm_ex_bf16, ta, tb, m, n, k,
               alpha, a, lda, b, ldb, beta, c, ldc);
    else run_with(ctx, "cublasSgemm", cublasSgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  template <class Ctx>
  static void run(const Ctx& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
                  const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta, double* c,
                  std::size_t ldc) {
    run_with(ctx, "cublasDgemm", cublasDgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

}  // namespace plait
