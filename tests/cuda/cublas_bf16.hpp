#pragma once
// What cuBLAS does under CUBLAS_COMPUTE_32F_FAST_16BF on this GPU, asked by the test itself, not
// through plait. That compute type allows cuBLAS to round float32 operands to bfloat16; it does not
// oblige it (a product may run on a kernel that keeps float32 operands). So the bf16 tests accept
// both, and hold plait's cuda_math::bf16 products to what cuBLAS does for the same call: a bf16 mode
// that plait ignored shows wherever cuBLAS rounds.

#include <cublas_v2.h>

#include <doctest/doctest.h>
#include <cstddef>
#include <plait/backend/cuda/cublas_error.hpp>
#include <plait/cuda.hpp>
#include <vector>

#include "backend_check.hpp"
#include "cuda_memory.hpp"

namespace plait::test {

/// C = alpha op(A) op(B) + beta C on row-major device matrices, as gemm does it (cuBLAS column-major:
/// B first, n and m swapped), through cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF on ctx's handle.
inline void cublas_fast_16bf(const cuda_context& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n,
                             std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
                             std::size_t ldb, float beta, float* c, std::size_t ldc) {
  auto op = [](transpose t) { return t == transpose::yes ? CUBLAS_OP_T : CUBLAS_OP_N; };
  cuda_detail::cublas_check(
      cublasGemmEx(ctx.blas(), op(tb), op(ta), int(n), int(m), int(k), &alpha, b, CUDA_R_32F, int(ldb), a, CUDA_R_32F,
                   int(lda), &beta, c, CUDA_R_32F, int(ldc), CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT),
      "cublasGemmEx (the test's own call, CUBLAS_COMPUTE_32F_FAST_16BF)", ctx.device);
}

/// What an [m, k] x [k, n] product (operands transposed as ta, tb say) gives where every element of A
/// is 1 + 2^-10 (bfloat16 rounds it to 1; float32 and TF32 keep it) and of B is 1: every element of C
/// is k when the operands were rounded to bfloat16, k (1 + 2^-10) when not (both exact in float32).
/// `multiply` runs the product on device pointers: multiply(a, lda, b, ldb, c, ldc).
enum class bf16_seen { rounded, float32, neither };
template <class Multiply>
bf16_seen probe_rounding(const cuda_context& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n,
                         std::size_t k, const Multiply& multiply) {
  cuda_memory mem;
  const std::size_t lda = ta == transpose::no ? k : m, ldb = tb == transpose::no ? n : k;
  const float* a = upload(ctx, mem, std::vector<float>(m * k, 1.0f + 0x1p-10f));  // [m, k] or [k, m] @ GPU
  const float* b = upload(ctx, mem, std::vector<float>(k * n, 1.0f));             // [k, n] or [n, k] @ GPU
  float* c = mem.zeros<float>(m * n);                                             // [m, n] @ GPU
  multiply(a, lda, b, ldb, c, n);
  const std::vector<float> got = download(ctx, static_cast<const float*>(c), m * n);
  const float rounded = float(k), kept = float(k) * (1.0f + 0x1p-10f);
  if (got == std::vector<float>(m * n, rounded)) return bf16_seen::rounded;
  if (got == std::vector<float>(m * n, kept)) return bf16_seen::float32;
  return bf16_seen::neither;
}

/// Whether cuBLAS itself rounds to bfloat16 under CUBLAS_COMPUTE_32F_FAST_16BF for a product of this
/// shape on ctx (it must do one or the other: anything else fails the calling test).
inline bool cublas_rounds(const cuda_context& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n,
                          std::size_t k) {
  const bf16_seen seen =
      probe_rounding(ctx, ta, tb, m, n, k,
                     [&](const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc) {
                       cublas_fast_16bf(ctx, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
                     });
  CHECK_MESSAGE(seen != bf16_seen::neither,
                "cuBLAS under CUBLAS_COMPUTE_32F_FAST_16BF gave neither the bf16 nor the float32 product");
  return seen == bf16_seen::rounded;
}

}  // namespace plait::test
