// bench/run gemm_libraries: float32 GEMM in the two libraries plait links, on the products plait's
// benchmarks run: OpenBLAS (cblas_sgemm), oneDNN's matmul primitive (what host_math::bf16 and the
// convolutions use; created once per shape, executed with an argument array) and oneDNN's dnnl_sgemm
// (its BLAS-like call: no primitive, row-major). A host device's float32 product runs on cblas_sgemm or
// dnnl_sgemm by the rule of plait::sgemm_library_for (kernels/gemm_host.hpp); the column "plait" names
// the one it picks, and "loss" is its time over the faster of the two (1.000: the rule picked the faster;
// a rule by shape, not by this machine's timings, may lose a little where the two are close, and the
// rule keeps on OpenBLAS every product for which dnnl_sgemm allocates: column "alloc sg"). The
// products: step_vs_torch's medium MLP (784 -> 1024 -> 1024 -> 10, batch 256) and small MLP
// (32 -> 64 -> 64 -> 10, batch 32), the pc benchmark's Fashion-MNIST MLP (784 -> 128 -> 128 -> 128 -> 10,
// batch 128) and pipeline_bubble's 512-wide layers at m = 8 (128 rows): each model's forward x W^T,
// weight gradient dy^T x and input gradient dy W. One thread (OPENBLAS_NUM_THREADS=1,
// OMP_NUM_THREADS=1, which oneDNN's OpenMP threading follows); the three alternate in rounds of calls
// worth about a millisecond each, 15 rounds; each row's ratios are the medians of the rounds' own
// ratios. Also checks that all compute the same product (max |difference|) and counts the heap
// allocations one call makes.
//
//   RESULT gemm_libraries threads=1 min_ratio=... max_ratio=... min_ratio_sgemm=... max_ratio_sgemm=...
//          max_choice_loss=... gain_over_openblas=...
//   (OpenBLAS time over oneDNN matmul's, and over dnnl_sgemm's; the largest "loss" of plait's choice; the
//   geometric mean over the products of OpenBLAS's time over the chosen library's)

#include <cblas.h>
#include <dnnl.h>

#include <plait/kernels/gemm_host.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

// Heap allocations, counted where a call is timed for them: every C allocator (operator new calls
// malloc; oneDNN takes its packing buffers from posix_memalign).
#include "counting_malloc.hpp"

namespace {

struct product {
  const char* name;
  int m, n, k;
  bool ta, tb;  // A [m, k] stored transposed ([k, m]), B [k, n] stored transposed ([n, k])
};

void check(dnnl_status_t s, const char* call) {
  if (s == dnnl_success) return;
  std::fprintf(stderr, "plait: %s failed with status %d. oneDNN refused a float32 matmul. Fix: check libdnnl.\n", call,
               int(s));
  std::exit(1);
}

double seconds() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Inputs uniform in [-1, 1) from a fixed seed: never zeros.
void fill(std::vector<float>& v, unsigned long long seed) {
  for (auto& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = float(double(seed >> 40) / double(1ull << 24)) * 2.0f - 1.0f;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
  const int rounds = quick ? 5 : 15;
  const product products[] = {
      {"medium fwd [256,784] x [1024,784]^T", 256, 1024, 784, false, true},
      {"medium fwd [256,1024] x [1024,1024]^T", 256, 1024, 1024, false, true},
      {"medium dW  [256,1024]^T x [256,784]", 1024, 784, 256, true, false},
      {"medium dW  [256,1024]^T x [256,1024]", 1024, 1024, 256, true, false},
      {"medium dX  [256,1024] x [1024,1024]", 256, 1024, 1024, false, false},
      {"medium cls [256,1024] x [10,1024]^T", 256, 10, 1024, false, true},
      {"medium cdW [256,10]^T x [256,1024]", 10, 1024, 256, true, false},
      {"medium cdX [256,10] x [10,1024]", 256, 1024, 10, false, false},
      {"small fwd  [32,32] x [64,32]^T", 32, 64, 32, false, true},
      {"small fwd  [32,64] x [64,64]^T", 32, 64, 64, false, true},
      {"small dW   [32,64]^T x [32,64]", 64, 64, 32, true, false},
      {"small dX   [32,64] x [64,64]", 32, 64, 64, false, false},
      {"fmnist fwd [128,784] x [128,784]^T", 128, 128, 784, false, true},
      {"fmnist fwd [128,128] x [128,128]^T", 128, 128, 128, false, true},
      {"fmnist dW  [128,128]^T x [128,784]", 128, 784, 128, true, false},
      {"fmnist dW  [128,128]^T x [128,128]", 128, 128, 128, true, false},
      {"fmnist dX  [128,128] x [128,128]", 128, 128, 128, false, false},
      {"bubble fwd [128,512] x [512,512]^T", 128, 512, 512, false, true},
      {"bubble dW  [128,512]^T x [128,512]", 512, 512, 128, true, false},
      {"bubble dX  [128,512] x [512,512]", 128, 512, 512, false, false},
  };
  dnnl_engine_t engine = nullptr;
  check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create");
  dnnl_stream_t stream = nullptr;
  check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "dnnl_stream_create");
  std::printf("gemm_libraries: float32, 1 thread, %d rounds, the three alternating\n", rounds);
  std::printf("%-38s %9s %9s %9s %22s %22s %9s %5s %5s %8s %6s  %s\n", "product", "OpenBLAS", "matmul", "sgemm",
              "OpenBLAS/matmul", "OpenBLAS/sgemm", "max|diff|", "alloc", "", "plait", "loss", "matmul kernel");
  std::printf("%-38s %9s %9s %9s %22s %22s %9s %5s %5s\n", "", "ms", "ms", "ms", "", "", "", "mm", "sg");
  double lo = 1e9, hi = 0, lo_sg = 1e9, hi_sg = 0, max_loss = 0, log_gain = 0;
  for (const product& p : products) {
    std::vector<float> a(std::size_t(p.m) * p.k), b(std::size_t(p.k) * p.n), c(std::size_t(p.m) * p.n), d(c.size()),
        e(c.size());
    fill(a, 1), fill(b, 2);
    const auto desc = [](dnnl_dim_t rows, dnnl_dim_t cols, dnnl_dim_t row_stride, dnnl_dim_t col_stride) {
      const dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
      dnnl_memory_desc_t md;
      check(dnnl_memory_desc_init_by_strides(&md, 2, dims, dnnl_f32, strides), "dnnl_memory_desc_init_by_strides");
      return md;
    };
    const dnnl_memory_desc_t src = p.ta ? desc(p.m, p.k, 1, p.m) : desc(p.m, p.k, p.k, 1);
    const dnnl_memory_desc_t weights = p.tb ? desc(p.k, p.n, 1, p.k) : desc(p.k, p.n, p.n, 1);
    const dnnl_memory_desc_t dst = desc(p.m, p.n, p.n, 1);
    dnnl_matmul_desc_t op;
    check(dnnl_matmul_desc_init(&op, &src, &weights, nullptr, &dst), "dnnl_matmul_desc_init");
    dnnl_primitive_desc_t pd = nullptr;
    check(dnnl_primitive_desc_create(&pd, &op, nullptr, engine, nullptr), "dnnl_primitive_desc_create");
    const char* kernel = "?";
    check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &kernel), "dnnl_primitive_desc_query");
    dnnl_primitive_t matmul = nullptr;
    check(dnnl_primitive_create(&matmul, pd), "dnnl_primitive_create");
    dnnl_memory_t ma = nullptr, mb = nullptr, mc = nullptr;
    check(dnnl_memory_create(&ma, &src, engine, a.data()), "dnnl_memory_create");
    check(dnnl_memory_create(&mb, &weights, engine, b.data()), "dnnl_memory_create");
    check(dnnl_memory_create(&mc, &dst, engine, d.data()), "dnnl_memory_create");
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    const int lda = p.ta ? p.m : p.k, ldb = p.tb ? p.k : p.n;
    const auto openblas = [&] {
      cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, p.m, p.n, p.k,
                  1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), p.n);
    };
    const auto onednn = [&] {
      check(dnnl_primitive_execute(matmul, stream, 3, args), "dnnl_primitive_execute");
      check(dnnl_stream_wait(stream), "dnnl_stream_wait");
    };
    const auto sgemm = [&] {  // oneDNN's sgemm is row-major (since oneDNN 1.0)
      check(dnnl_sgemm(p.ta ? 'T' : 'N', p.tb ? 'T' : 'N', p.m, p.n, p.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                       e.data(), p.n),
            "dnnl_sgemm");
    };
    for (int i = 0; i < 3; ++i) openblas(), onednn(), sgemm();  // warm: pages, caches, oneDNN's JIT
    const auto allocations_of = [](const auto& call) {          // -1: not counted (a sanitizer owns malloc)
#if PLAIT_COUNTS_C_ALLOCATIONS
      const long before = plait::test::c_allocations.load();
      call();
      return plait::test::c_allocations.load() - before;
#else
      call();
      return -1L;
#endif
    };
    const long alloc_mm = allocations_of(onednn), alloc_sg = allocations_of(sgemm);
    double diff = 0;
    for (std::size_t i = 0; i < c.size(); ++i)
      diff = std::max({diff, double(std::abs(c[i] - d[i])), double(std::abs(c[i] - e[i]))});
    const double flops = 2.0 * p.m * p.n * p.k;
    const int calls = std::max(1, int(1e-3 * 80e9 / flops));  // about a millisecond per library per round
    std::vector<double> t_blas, t_mm, t_sg, ratio, ratio_sg;
    for (int r = 0; r < rounds; ++r) {
      const double t0 = seconds();
      for (int i = 0; i < calls; ++i) openblas();
      const double t1 = seconds();
      for (int i = 0; i < calls; ++i) onednn();
      const double t2 = seconds();
      for (int i = 0; i < calls; ++i) sgemm();
      const double t3 = seconds();
      t_blas.push_back((t1 - t0) / calls * 1e3), t_mm.push_back((t2 - t1) / calls * 1e3);
      t_sg.push_back((t3 - t2) / calls * 1e3);
      ratio.push_back((t1 - t0) / (t2 - t1)), ratio_sg.push_back((t1 - t0) / (t3 - t2));
    }
    const double rt = median(ratio), rs = median(ratio_sg);
    lo = std::min(lo, rt), hi = std::max(hi, rt), lo_sg = std::min(lo_sg, rs), hi_sg = std::max(hi_sg, rs);
    const bool onednn_chosen =
        plait::sgemm_library_for(p.ta ? plait::transpose::yes : plait::transpose::no, std::size_t(p.m),
                                 std::size_t(p.n), std::size_t(p.k)) == plait::host_sgemm_library::onednn;
    // OpenBLAS/sgemm = rs: the chosen library's time over the faster one's, and OpenBLAS's over the chosen's
    const double loss = onednn_chosen ? std::max(1.0, 1.0 / rs) : std::max(1.0, rs);
    max_loss = std::max(max_loss, loss), log_gain += std::log(onednn_chosen ? rs : 1.0);
    const auto range = [](const std::vector<double>& v, double mid) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3f [%.3f..%.3f]", mid, *std::min_element(v.begin(), v.end()),
                    *std::max_element(v.begin(), v.end()));
      return std::string(buf);
    };
    std::printf("%-38s %9.4f %9.4f %9.4f %22s %22s %9.2g %5ld %5ld %8s %6.3f  %s\n", p.name, median(t_blas),
                median(t_mm), median(t_sg), range(ratio, rt).c_str(), range(ratio_sg, rs).c_str(), diff, alloc_mm,
                alloc_sg, onednn_chosen ? "sgemm" : "OpenBLAS", loss, kernel);
    dnnl_memory_destroy(ma), dnnl_memory_destroy(mb), dnnl_memory_destroy(mc);
    dnnl_primitive_destroy(matmul);
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_stream_destroy(stream);
  dnnl_engine_destroy(engine);
  std::printf(
      "RESULT gemm_libraries threads=1 min_ratio=%.3f max_ratio=%.3f min_ratio_sgemm=%.3f max_ratio_sgemm=%.3f "
      "max_choice_loss=%.3f gain_over_openblas=%.3f\n",
      lo, hi, lo_sg, hi_sg, max_loss, std::exp(log_gain / double(std::size(products))));
}
