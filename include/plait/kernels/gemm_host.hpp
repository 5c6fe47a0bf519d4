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
/// multiply-adds are too; OpenBLAS for everything else. On one thread the sample count (k) enters only
/// when it is 0, so a layer's weight gradient goes to the same library on one device, a replica's share
/// of a batch and a pipeline's micro-batch.
/// The two libraries round alike (on products of 12-4096 samples each is within 1.2e-7 of the exact
/// sum, relative to the sum of |a b|) but not identically, so a layer's weights may end a few ulps
/// apart from what OpenBLAS alone would give; Adam magnifies that on parameters whose gradients
/// nearly cancel (three predictive coding steps with Adam on 773 samples: 3.8e-4 relative, where the
/// same steps with SGD differ by 8e-8). The switch stays a constant so that a build can compare.
inline constexpr bool host_sgemm_onednn_enabled = true;

constexpr host_sgemm_library sgemm_library_for(transpose ta, std::size_t m, std::size_t n, std::size_t k,
                                               unsigned threads = 1) {
  if (!host_sgemm_onednn_enabled) return host_sgemm_library::openblas;
  // No samples (a replica's or micro-batch's empty share): C = beta C, which dnnl_sgemm refuses to do
  // (invalid arguments for k = 0) and OpenBLAS does.
  if (k == 0) return host_sgemm_library::openblas;
  if (ta != transpose::yes || m * n > host_sgemm_small_weights) return host_sgemm_library::openblas;
  if (threads > 1 && m * n * k > host_sgemm_single_thread_macs) return host_sgemm_library::openblas;
  return host_sgemm_library::onednn;
}

/// How many parts C [m, n] = op(A) [m, k] op(B) [k, n] is split into on a device of `threads` threads:
/// one below host_sgemm_single_thread_macs multiply-adds (where OpenBLAS would use one thread too),
/// else one per thread, each at least host_sgemm_split_align rows or columns wide. plait splits a
/// product itself, over the device's OpenMP team, and OpenBLAS always runs on one thread (see
/// host_sgemm): its own threads would allocate on every product and spin beside the team.
inline constexpr std::size_t host_sgemm_split_align = 16;

constexpr std::size_t sgemm_parts(std::size_t m, std::size_t n, std::size_t k, unsigned threads) {
  if (threads <= 1 || m * n * k <= host_sgemm_single_thread_macs) return 1;
  const std::size_t wide = (m > n ? m : n) / host_sgemm_split_align;  // blocks of the split dimension
  const std::size_t parts = wide < threads ? wide : threads;
  return parts < 1 ? 1 : parts;
}

/// Whether a product split in parts splits the rows of C (A's share per part) rather than its columns
/// (B's share): the larger of m and n, so each part packs the smaller operand whole and its share of
/// the larger one.
constexpr bool sgemm_splits_rows(std::size_t m, std::size_t n) { return m >= n; }

namespace host_detail {

// Part `p` of `parts` of [0, size): boundaries on multiples of host_sgemm_split_align, the last part
// to size.
constexpr std::size_t split_at(std::size_t size, std::size_t p, std::size_t parts) {
  if (p >= parts) return size;
  const std::size_t blocks = (size + host_sgemm_split_align - 1) / host_sgemm_split_align;
  const std::size_t at = blocks * p / parts * host_sgemm_split_align;
  return at < size ? at : size;
}

// One cblas_sgemm on the calling thread (OpenBLAS runs on one thread under plait). For beta = 0
// OpenBLAS first zeroes C with its beta kernel, then adds the product; on its Zen and Haswell builds
// that kernel is the generic one (one 4-byte store at a time), a sixth of a small MLP's step. C
// zeroed here and beta = 1 is the same arithmetic (0 + the product) without that pass.
inline void openblas_sgemm(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                           std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (beta == 0.0f) {
    if (ldc == n) std::memset(c, 0, m * n * sizeof(float));  // one call where the rows are contiguous
    else
      for (std::size_t r = 0; r < m; ++r) std::memset(c + r * ldc, 0, n * sizeof(float));
    beta = 1.0f;
  }
  const auto op = [](transpose t) { return t == transpose::yes ? CblasTrans : CblasNoTrans; };
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c,
              int(ldc));
}

}  // namespace host_detail

/// C = alpha op(A) op(B) + beta C, row-major float32, on the library sgemm_library_for chooses, split
/// over the calling thread's OpenMP threads (host_context::enter sets them to the device's) in
/// sgemm_parts parts, each one single-threaded library call on its own rows or columns of C. The split
/// depends only on the shape and the thread count, so a product gives the same bits every time.
/// What a host device runs for every float32 product; the benchmarks' GEMM floors call it too.
inline void host_sgemm(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                       const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                       std::size_t ldc) {
  if (m == 0 || n == 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if constexpr (host_sgemm_onednn_enabled) {
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
  const std::size_t parts = sgemm_parts(m, n, k, unsigned(threads));
  if (parts == 1) return host_detail::openblas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const bool rows = sgemm_splits_rows(m, n);
  const std::size_t size = rows ? m : n;
#pragma omp parallel num_threads(int(parts))
  {
    // A team smaller than asked for (nested parallelism off, a thread limit) runs the parts in turn.
    const std::size_t team = std::size_t(omp_get_num_threads());
    for (std::size_t p = std::size_t(omp_get_thread_num()); p < parts; p += team) {
      const std::size_t lo = host_detail::split_at(size, p, parts), hi = host_detail::split_at(size, p + 1, parts);
      if (rows)  // rows [lo, hi) of C and of op(A)
        host_detail::openblas_sgemm(ta, tb, hi - lo, n, k, alpha, ta == transpose::no ? a + lo * lda : a + lo, lda, b,
                                    ldb, beta, c + lo * ldc, ldc);
      else  // columns [lo, hi) of C and of op(B)
        host_detail::openblas_sgemm(ta, tb, m, hi - lo, k, alpha, a, lda, tb == transpose::no ? b + lo : b + lo * ldb,
                                    ldb, beta, c + lo, ldc);
    }
  }
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
