#pragma once
// GEMM on host devices. Float products under host_math::float32 (the default) through one of two
// libraries, chosen per product by its shape (host_sgemm below); double products through CBLAS
// (OpenBLAS); float products under host_math::bf16 through oneDNN's bf16 matmul
// (detail/bf16_products.hpp): OpenBLAS 0.3.21 has no bf16 product that takes float32 operands and
// writes float32 with a scale and beta, and oneDNN picks AMX or AVX-512 BF16 kernels by CPU.

#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstring>

#include "../backend/host/backend.hpp"
#include "../core/error.hpp"
#include "detail/bf16_products.hpp"
#include "gemm.hpp"

namespace plait {

/// Which library multiplies a float32 product on a host device.
enum class host_sgemm_library { openblas, onednn };

/// Weight gradients (A transposed: C [m, n] = A^T B, k counting the samples) whose weights have at most
/// this many elements run on oneDNN's dnnl_sgemm, every other float32 product on OpenBLAS's cblas_sgemm.
/// Measured (bench/run gemm_libraries, one thread): dnnl_sgemm is 1.1-1.9x OpenBLAS's speed on products
/// of up to 784 x 128 weights (its call has less fixed cost), 0.75-0.95x on most 512- and 1024-wide ones
/// on an AVX2 machine. Forwards and input gradients stay on OpenBLAS although dnnl_sgemm is faster on the
/// small ones too: for them oneDNN 2.6 allocates a packing buffer on every call (posix_memalign), and a
/// step allocates nothing. Its weight gradients on one thread allocate nothing (kernels_gemm_allocations
/// counts every C allocation of both libraries' calls).
inline constexpr std::size_t host_sgemm_small_weights = std::size_t{1} << 17;

/// dnnl_sgemm always runs on one thread: its OpenMP team, woken beside OpenBLAS's own threads on a
/// device of several, costs more than it gains on products this small (the Fashion-MNIST demo at two
/// threads ran 2.3x slower with a team of two), and on several threads it allocates. So on a device of
/// several threads a product goes to oneDNN only while it is also small in multiply-adds: below
/// OpenBLAS's own threshold for using more than one thread (65536 x 4), where OpenBLAS runs it on one
/// thread as well.
inline constexpr std::size_t host_sgemm_single_thread_macs = std::size_t{1} << 18;

/// The library of C [m, n] = op(A) [m, k] op(B) [k, n] on a device of `threads` threads: oneDNN for a
/// weight gradient (A transposed) whose weights (m x n) are small, and, on several threads, whose
/// multiply-adds are too; OpenBLAS for everything else. On one thread the sample count (k) never
/// enters, so a layer's weight gradient goes to the same library on one device, a replica's share of a
/// batch and a pipeline's micro-batch.
/// Off for now: with weight gradients on dnnl_sgemm and the rest on OpenBLAS, replicate<3, pipeline<2>>
/// of predictive coding across processes (tests/mpi/pc_test.cpp, opening forward in chunks) moved from one
/// device by 3.8e-4 relative after three Adam steps, above the 1e-4 its check allows; until that is
/// understood every float32 product runs on OpenBLAS, as before the rule existed.
inline constexpr bool host_sgemm_onednn_enabled = false;

constexpr host_sgemm_library sgemm_library_for(transpose ta, std::size_t m, std::size_t n, std::size_t k,
                                               unsigned threads = 1) {
  if (!host_sgemm_onednn_enabled) return host_sgemm_library::openblas;
  if (ta != transpose::yes || m * n > host_sgemm_small_weights) return host_sgemm_library::openblas;
  if (threads > 1 && m * n * k > host_sgemm_single_thread_macs) return host_sgemm_library::openblas;
  return host_sgemm_library::onednn;
}

/// C = alpha op(A) op(B) + beta C, row-major float32, on the library sgemm_library_for chooses for the
/// calling thread's OpenMP thread count (host_context::enter sets it, and OpenBLAS's, to the device's).
/// What a host device runs for every float32 product; the benchmarks' GEMM floors call it too.
inline void host_sgemm(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                       const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                       std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if constexpr (host_sgemm_onednn_enabled) {  // switched off: no thread query per product
    const int threads = omp_get_max_threads();
    if (sgemm_library_for(ta, m, n, k, unsigned(threads)) == host_sgemm_library::onednn) {
      if (threads > 1) omp_set_num_threads(1);  // oneDNN sizes its team by it: one thread, no team woken
      const dnnl_status_t s =
          dnnl_sgemm(ta == transpose::yes ? 'T' : 'N', tb == transpose::yes ? 'T' : 'N', dnnl_dim_t(m), dnnl_dim_t(n),
                     dnnl_dim_t(k), alpha, a, dnnl_dim_t(lda), b, dnnl_dim_t(ldb), beta, c, dnnl_dim_t(ldc));
      if (threads > 1) omp_set_num_threads(threads);
      if (s != dnnl_success) [[unlikely]]
        fail(cat("oneDNN's dnnl_sgemm failed (status ", int(s), ") for a [", m, ", ", k, "] x [", k, ", ", n,
                 "] float32 product"),
             "its arguments were refused, which plait's layers never pass",
             "report it with the layer that ran it; kernels/gemm_host.hpp names the shapes that go to oneDNN");
      return;
    }
  }
  // For beta = 0 OpenBLAS first zeroes C with its beta kernel, then adds the product. On its Zen and
  // Haswell builds that kernel is the generic one (one 4-byte store at a time): a sixth of a small
  // MLP's step. C zeroed here and beta = 1 is the same arithmetic (0 + the product) without that pass.
  if (beta == 0.0f) {
    for (std::size_t r = 0; r < m; ++r) std::memset(c + r * ldc, 0, n * sizeof(float));
    beta = 1.0f;
  }
  const auto op = [](transpose t) { return t == transpose::yes ? CblasTrans : CblasNoTrans; };
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c,
              int(ldc));
}

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
    host_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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
