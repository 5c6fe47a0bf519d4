#pragma once
// host_math::bf16's float products (backend/host/backend.hpp), the internal half of kernels/gemm_host.hpp:
// C = alpha op(A) op(B) + beta C on row-major float32 matrices, with A and B rounded to bfloat16 by
// round_to_bf16 (core/bf16.hpp) into this device's scratch, multiplied by oneDNN's matmul (bf16 source
// and weights, float32 destination: float32 accumulation, alpha as its output scale, beta as a sum
// post-op reading C), on the calling thread's OpenMP threads (the device's, host_context::enter).
//
// oneDNN 2.6 leaves float32 matmul in float32 under fpmath_mode::bf16 (measured: its products keep
// float32 operands), so the operands are rounded here, once per product, by the same function the
// reference and the CUDA backend's tests use.
//
// A matmul's primitive descriptor is slow to create (tens of microseconds to milliseconds: oneDNN picks
// and JIT-compiles a kernel), so each product shape met is created once, at its first product (a
// model's first step), and kept with its memory descriptors; the rounded operands and oneDNN's scratchpad
// (user-managed) live in one buffer grown to the largest shape met. A later product of a known shape
// allocates nothing in plait; oneDNN's execute builds its argument map on the heap (a few small blocks).
//
// oneDNN's C API, not its C++ one: nvcc 12's front end fails on dnnl.hpp in C++20 (an internal error in
// its own parser), and CUDA translation units include this header through plait/plait.hpp.

#include <oneapi/dnnl/dnnl.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>

#include <omp.h>

#include "../../backend/host/bf16_cpu.hpp"
#include "../../core/bf16.hpp"
#include "../../core/error.hpp"
#include "../gemm.hpp"
#include "onednn_handle.hpp"

namespace plait::host_detail {

/// dst[r, c] = round_to_bf16(src[r, c]) as bfloat16 bits, for `rows` rows of `cols` floats at row stride
/// `ld`, packed (row stride `cols`); rows split over the calling thread's OpenMP threads when large.
/// Compiled for AVX-512 whatever the build's flags (about 4x the rate of the baseline's SSE2 loop): it
/// runs only where oneDNN has seen AVX-512 BF16, which implies AVX-512 F, BW and VL.
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl")))
#endif
inline void round_rows_to_bf16(const float* src, std::size_t rows, std::size_t cols, std::size_t ld,
                               std::uint16_t* dst) {
  const std::ptrdiff_t count = std::ptrdiff_t(rows);
  const auto row = [&](std::ptrdiff_t r) {
    const float* s = src + std::size_t(r) * ld;
    std::uint16_t* d = dst + std::size_t(r) * cols;
    for (std::size_t c = 0; c < cols; ++c)
      d[c] = std::uint16_t(std::bit_cast<std::uint32_t>(round_to_bf16(s[c])) >> 16);
  };
  // Not split: no parallel region at all (libgomp allocates a one-thread team for each).
  if (rows <= 1 || rows * cols < (std::size_t{1} << 20) || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (std::ptrdiff_t r = 0; r < count; ++r) row(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t r = 0; r < count; ++r) row(r);
}

/// One device's bf16 products: a oneDNN engine and stream, the matmul of every shape met, the scratch.
class bf16_products {
 public:
  bf16_products() {
    expect_bf16_cpu();  // a host_context made by hand with host_math::bf16 is checked here
    dnnl_engine_t e = nullptr;
    check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create");
    engine_.reset(e);
    dnnl_stream_t s = nullptr;
    check(dnnl_stream_create(&s, e, dnnl_stream_default_flags), "dnnl_stream_create");
    stream_.reset(s);
  }
  bf16_products(const bf16_products&) = delete;
  bf16_products& operator=(const bf16_products&) = delete;

  /// The context's state, made at its first bf16 product.
  template <class Ctx>
  static bf16_products& of(const Ctx& ctx) {
    if (!ctx.bf16_state) [[unlikely]]
      ctx.bf16_state = std::make_shared<bf16_products>();
    return *ctx.bf16_state;
  }

  /// C = alpha op(A) op(B) + beta C as gemm() defines it (m, n > 0), A and B rounded to bfloat16.
  void multiply(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    if (k == 0) {  // no terms: C = beta C (beta 0 overwrites, as BLAS does)
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? 0.0f : beta * c[i * ldc + j];
      return;
    }
    const product& p =
        find(shape{ta, tb, m, n, k, ldc, std::bit_cast<std::uint32_t>(alpha), std::bit_cast<std::uint32_t>(beta)});
    auto* a16 = reinterpret_cast<std::uint16_t*>(buffer_.get());
    auto* b16 = reinterpret_cast<std::uint16_t*>(buffer_.get() + p.b_offset);
    const team threads(p.threads);  // the calling thread's OpenMP threads for this product
    // Each operand keeps its stored layout, packed: op(A) [m, k] stored as [m, k] or [k, m], likewise B.
    round_rows_to_bf16(a, ta == transpose::no ? m : k, ta == transpose::no ? k : m, lda, a16);
    round_rows_to_bf16(b, tb == transpose::no ? k : n, tb == transpose::no ? n : k, ldb, b16);
    dnnl_status_t s = dnnl_memory_set_data_handle(p.src.get(), a16);
    if (s == dnnl_success) s = dnnl_memory_set_data_handle(p.weights.get(), b16);
    if (s == dnnl_success) s = dnnl_memory_set_data_handle(p.dst.get(), c);
    if (s == dnnl_success && p.scratch_bytes > 0)
      s = dnnl_memory_set_data_handle(p.scratchpad.get(), buffer_.get() + p.scratch_offset);
    const dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, p.src.get()},
                                     {DNNL_ARG_WEIGHTS, p.weights.get()},
                                     {DNNL_ARG_DST, p.dst.get()},
                                     {DNNL_ARG_SCRATCHPAD, p.scratchpad.get()}};
    if (s == dnnl_success) s = dnnl_primitive_execute(p.matmul.get(), stream_.get(), p.scratch_bytes > 0 ? 4 : 3, args);
    if (s == dnnl_success) s = dnnl_stream_wait(stream_.get());
    if (s != dnnl_success) [[unlikely]]
      fail(cat("oneDNN's bf16 matmul (m ", m, ", n ", n, ", k ", k, ", ", p.implementation, ") failed"),
           cat("dnnl_primitive_execute returned status ", int(s)),
           "check that C's row stride is at least n and that no operand overlaps C");
  }

  /// The oneDNN implementation chosen for a shape met so far, e.g. "brg:avx512_core_bf16" or
  /// "brg:avx512_core_amx" ("" for a shape not met).
  std::string implementation(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                             float beta, std::size_t ldc) const {
    const auto it = cache_.find(
        shape{ta, tb, m, n, k, ldc, std::bit_cast<std::uint32_t>(alpha), std::bit_cast<std::uint32_t>(beta)});
    return it == cache_.end() ? std::string() : it->second.implementation;
  }
  /// Shapes met so far (each one matmul primitive), and the scratch's bytes.
  std::size_t shapes() const { return cache_.size(); }
  std::size_t scratch_bytes() const { return capacity_; }

 private:
  struct shape {
    transpose ta, tb;
    std::size_t m, n, k, ldc;
    std::uint32_t alpha, beta;  // bits: a scale is part of the primitive
    bool operator==(const shape&) const = default;
  };
  struct shape_hash {
    std::size_t operator()(const shape& s) const {
      std::size_t h = std::size_t(s.ta) * 2 + std::size_t(s.tb);
      for (std::size_t v : {s.m, s.n, s.k, s.ldc, std::size_t(s.alpha), std::size_t(s.beta)})
        h = h * 0x100000001b3ull ^ std::hash<std::size_t>{}(v);
      return h;
    }
  };
  using memory = detail::onednn::memory;
  struct product {
    int threads = 1;  // OpenMP threads it was made for and runs on
    detail::onednn::primitive matmul;
    memory src, weights, dst, scratchpad;  // descriptors without memory: each call sets the pointers
    std::size_t b_offset = 0, scratch_offset = 0, scratch_bytes = 0;
    std::string implementation;
  };
  struct free_bytes {
    void operator()(std::byte* p) const { std::free(p); }
  };

  /// The calling thread's OpenMP thread count set to `n` for a scope (oneDNN reads it when it makes a
  /// primitive and when the primitive runs), the caller's own again after.
  struct team {
    int before;
    explicit team(int n) : before(omp_get_max_threads()) {
      if (n != before) omp_set_num_threads(n);
    }
    ~team() {
      if (omp_get_max_threads() != before) omp_set_num_threads(before);
    }
    team(const team&) = delete;
    team& operator=(const team&) = delete;
  };

  /// A product of fewer multiply-adds than this runs on one thread (a few hundred microseconds at
  /// AVX-512 BF16's single-core rate): split over a team, its share of the work is no longer than an
  /// OpenMP team's wake-up and barriers where cores are shared, and measured steps of small models got
  /// slower on two threads than on one (2 ms on one, 10 ms on two, on a loaded 2-core machine).
  static constexpr std::size_t parallel_macs = std::size_t{64} << 20;

  static constexpr std::size_t align(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

  static void check(dnnl_status_t s, const char* call) {
    if (s != dnnl_success)
      fail(cat("oneDNN's ", call, " failed (status ", int(s), ") for host_math::bf16"),
           "oneDNN could not set up a bf16 matrix product on this CPU", "use host_math::float32 (the default)");
  }

  const product& find(const shape& s) {
    if (const auto it = cache_.find(s); it != cache_.end()) [[likely]]
      return it->second;
    return make(s);
  }

  const product& make(const shape& s) {
    const int threads = s.m * s.n * s.k >= parallel_macs ? omp_get_max_threads() : 1;
    const team made_for(threads);
    const auto m = dnnl_dim_t(s.m), n = dnnl_dim_t(s.n), k = dnnl_dim_t(s.k), ldc = dnnl_dim_t(s.ldc);
    auto desc = [](dnnl_dim_t rows, dnnl_dim_t cols, dnnl_data_type_t type, dnnl_dim_t row_stride,
                   dnnl_dim_t col_stride) {
      const dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
      dnnl_memory_desc_t d;
      check(dnnl_memory_desc_init_by_strides(&d, 2, dims, type, strides), "dnnl_memory_desc_init_by_strides");
      return d;
    };
    const dnnl_memory_desc_t src = s.ta == transpose::no ? desc(m, k, dnnl_bf16, k, 1) : desc(m, k, dnnl_bf16, 1, m);
    const dnnl_memory_desc_t weights =
        s.tb == transpose::no ? desc(k, n, dnnl_bf16, n, 1) : desc(k, n, dnnl_bf16, 1, k);
    const dnnl_memory_desc_t dst = desc(m, n, dnnl_f32, ldc, 1);
    dnnl_matmul_desc_t op;
    check(dnnl_matmul_desc_init(&op, &src, &weights, nullptr, &dst), "dnnl_matmul_desc_init");

    dnnl_primitive_attr_t raw_attr = nullptr;
    check(dnnl_primitive_attr_create(&raw_attr), "dnnl_primitive_attr_create");
    const detail::onednn::attributes attr(raw_attr);
    check(dnnl_primitive_attr_set_scratchpad_mode(raw_attr, dnnl_scratchpad_mode_user),
          "dnnl_primitive_attr_set_scratchpad_mode");
    const float alpha = std::bit_cast<float>(s.alpha), beta = std::bit_cast<float>(s.beta);
    if (alpha != 1.0f)
      check(dnnl_primitive_attr_set_output_scales(raw_attr, 1, 0, &alpha), "dnnl_primitive_attr_set_output_scales");
    if (beta != 0.0f) {
      dnnl_post_ops_t raw_ops = nullptr;
      check(dnnl_post_ops_create(&raw_ops), "dnnl_post_ops_create");
      const detail::onednn::post_ops ops(raw_ops);
      check(dnnl_post_ops_append_sum(raw_ops, beta), "dnnl_post_ops_append_sum");
      check(dnnl_primitive_attr_set_post_ops(raw_attr, raw_ops), "dnnl_primitive_attr_set_post_ops");
    }
    dnnl_primitive_desc_t raw_pd = nullptr;
    if (dnnl_primitive_desc_create(&raw_pd, &op, raw_attr, engine_.get(), nullptr) != dnnl_success)
      fail(cat("oneDNN has no bf16 matmul for a product of m ", s.m, ", n ", s.n, ", k ", s.k, " (row stride of C ",
               s.ldc, ")"),
           "dnnl_primitive_desc_create refused its bf16 source and weights with a float32 destination",
           "check that C's row stride is at least n");
    const detail::onednn::primitive_desc pd(raw_pd);

    product p;
    p.threads = threads;
    dnnl_primitive_t raw_matmul = nullptr;
    check(dnnl_primitive_create(&raw_matmul, raw_pd), "dnnl_primitive_create");
    p.matmul.reset(raw_matmul);
    const char* impl = nullptr;
    if (dnnl_primitive_desc_query(raw_pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
      p.implementation = impl;
    const dnnl_memory_desc_t* scratch = dnnl_primitive_desc_query_md(raw_pd, dnnl_query_scratchpad_md, 0);
    p.scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
    auto unbound = [&](const dnnl_memory_desc_t* d) {
      dnnl_memory_t mem = nullptr;
      check(dnnl_memory_create(&mem, d, engine_.get(), DNNL_MEMORY_NONE), "dnnl_memory_create");
      return memory(mem);
    };
    p.src = unbound(&src);
    p.weights = unbound(&weights);
    p.dst = unbound(&dst);
    if (p.scratch_bytes > 0) p.scratchpad = unbound(scratch);
    p.b_offset = align(s.m * s.k * 2);
    p.scratch_offset = p.b_offset + align(s.k * s.n * 2);
    reserve(p.scratch_offset + p.scratch_bytes);
    return cache_.emplace(s, std::move(p)).first->second;
  }

  // Grows the buffer to `bytes` (its contents need not survive: each product rounds its operands anew).
  void reserve(std::size_t bytes) {
    if (bytes <= capacity_) return;
    bytes = align(bytes);
    buffer_.reset(static_cast<std::byte*>(std::aligned_alloc(64, bytes)));
    if (!buffer_) {
      capacity_ = 0;
      fail(cat("host_math::bf16 could not allocate ", bytes, " bytes of scratch"), "the host is out of memory",
           "use smaller batches or host_math::float32");
    }
    capacity_ = bytes;
  }

  // Declared first, destroyed last: the primitives and memories below were made on this engine.
  detail::onednn::engine engine_;
  detail::onednn::stream stream_;
  std::unordered_map<shape, product, shape_hash> cache_;
  std::unique_ptr<std::byte, free_bytes> buffer_;  // [capacity_]: rounded A, rounded B, oneDNN's scratchpad
  std::size_t capacity_ = 0;
};

}  // namespace plait::host_detail
