#pragma once
// GEMM on row-major matrices: C[m,n] = alpha * op(A) * op(B) + beta * C.
// Dispatch by specialisation on the backend; each backend's body is in gemm_<backend>.hpp.

#include <cstddef>

#include "../core/meta.hpp"

namespace plait {

enum class transpose : bool { no = false, yes = true };

template <class Backend>
struct gemm_impl {
  static_assert(dependent_false<Backend>,
                "plait: no GEMM for this backend. Matrix products are specialised per backend. Fix: include "
                "the backend's header (plait/plait.hpp for host, plait/cuda.hpp for CUDA).");
};

/// op(A) is [m,k], op(B) is [k,n], C is [m,n]; lda/ldb/ldc are row strides.
template <class Ctx, class T>
void gemm(const Ctx& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  gemm_impl<typename Ctx::backend>::run(ctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace plait
