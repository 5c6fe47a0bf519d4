// bench/run gemm_libraries: float32 GEMM in the two libraries plait links, OpenBLAS (cblas_sgemm, what
// every float32 product of a host device calls) and oneDNN (its matmul primitive, what host_math::bf16
// and the convolutions use), on the products of step_vs_torch's medium MLP (784 -> 1024 -> 1024 -> 10,
// batch 256): the forward's x W^T, the weight gradient's dy^T x and the input gradient's dy W. One
// thread (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1, which oneDNN's OpenMP threading follows), the
// two libraries alternating in rounds of 5 calls, 15 rounds; each row's ratio is the median of the
// rounds' own ratios. Also checks that both compute the same product (max |difference|).
//
//   RESULT gemm_libraries threads=1 min_ratio=... max_ratio=... (OpenBLAS time / oneDNN time)

#include <cblas.h>
#include <dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

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
  const int rounds = quick ? 5 : 15, calls = 5;
  const product products[] = {
      {"forward  [256,784] x [1024,784]^T", 256, 1024, 784, false, true},
      {"forward  [256,1024] x [1024,1024]^T", 256, 1024, 1024, false, true},
      {"weights  [256,1024]^T x [256,784]", 1024, 784, 256, true, false},
      {"weights  [256,1024]^T x [256,1024]", 1024, 1024, 256, true, false},
      {"input    [256,1024] x [1024,1024]", 256, 1024, 1024, false, false},
  };
  dnnl_engine_t engine = nullptr;
  check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create");
  dnnl_stream_t stream = nullptr;
  check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "dnnl_stream_create");
  std::printf("gemm_libraries: float32, 1 thread, %d rounds x %d calls, alternating\n", rounds, calls);
  std::printf("%-38s %12s %12s %24s %12s  %s\n", "product", "OpenBLAS ms", "oneDNN ms", "OpenBLAS/oneDNN", "max|diff|",
              "oneDNN kernel");
  double lo = 1e9, hi = 0;
  for (const product& p : products) {
    std::vector<float> a(std::size_t(p.m) * p.k), b(std::size_t(p.k) * p.n), c(std::size_t(p.m) * p.n), d(c.size());
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
    const auto openblas = [&] {
      cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, p.m, p.n, p.k,
                  1.0f, a.data(), p.ta ? p.m : p.k, b.data(), p.tb ? p.k : p.n, 0.0f, c.data(), p.n);
    };
    const auto onednn = [&] {
      check(dnnl_primitive_execute(matmul, stream, 3, args), "dnnl_primitive_execute");
      check(dnnl_stream_wait(stream), "dnnl_stream_wait");
    };
    for (int i = 0; i < 3; ++i) openblas(), onednn();  // warm: pages, caches, oneDNN's JIT
    double diff = 0;
    for (std::size_t i = 0; i < c.size(); ++i) diff = std::max(diff, double(std::abs(c[i] - d[i])));
    std::vector<double> t_blas, t_dnnl, ratio;
    for (int r = 0; r < rounds; ++r) {
      const double t0 = seconds();
      for (int i = 0; i < calls; ++i) openblas();
      const double t1 = seconds();
      for (int i = 0; i < calls; ++i) onednn();
      const double t2 = seconds();
      t_blas.push_back((t1 - t0) / calls * 1e3), t_dnnl.push_back((t2 - t1) / calls * 1e3);
      ratio.push_back((t1 - t0) / (t2 - t1));
    }
    const double rt = median(ratio);
    lo = std::min(lo, rt), hi = std::max(hi, rt);
    std::printf("%-38s %12.3f %12.3f %10.3f [%.3f..%.3f] %12.2g  %s\n", p.name, median(t_blas), median(t_dnnl), rt,
                *std::min_element(ratio.begin(), ratio.end()), *std::max_element(ratio.begin(), ratio.end()), diff,
                kernel);
    dnnl_memory_destroy(ma), dnnl_memory_destroy(mb), dnnl_memory_destroy(mc);
    dnnl_primitive_destroy(matmul);
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_stream_destroy(stream);
  dnnl_engine_destroy(engine);
  std::printf("RESULT gemm_libraries threads=1 min_ratio=%.3f max_ratio=%.3f\n", lo, hi);
}
