// The CUDA backend below the layers: contexts and device sets (virtual devices), planned device
// memory, cuBLAS GEMM on row-major data against CBLAS (and cuda_math::bf16 against its host
// reference), and the reductions against the host's.
#include "cuda_test_main.hpp"

#include <plait/core/bf16.hpp>
#include <plait/cuda.hpp>
#include <string>

#include "backend_check.hpp"
#include "cublas_bf16.hpp"
#include "cuda_memory.hpp"

using namespace plait;

namespace {

constexpr double alpha = 0.75, beta = 0.5;  // product()'s scalars

/// product()'s operands on the host: row-major A, B, C with padded row strides, uniform in [-1, 1).
struct operands {
  std::size_t lda, ldb, ldc;
  std::vector<float> a, b, c;  // [op(A) rows, lda], [op(B) rows, ldb], [m, ldc] @ host
  operands(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k)
      : lda((ta == transpose::no ? k : m) + 3),
        ldb((tb == transpose::no ? n : k) + 1),
        ldc(n + 2),
        a(test::random_floats((ta == transpose::no ? m : k) * lda, 1)),
        b(test::random_floats((tb == transpose::no ? k : n) * ldb, 2)),
        c(test::random_floats(m * ldc, 3)) {}
};

/// C = alpha op(A) op(B) + beta C on ctx, for row-major A, B, C with padded row strides.
template <class T, class Ctx, class Mem>
std::vector<T> product(const Ctx& ctx, Mem& mem, transpose ta, transpose tb, std::size_t m, std::size_t n,
                       std::size_t k) {
  const operands in(ta, tb, m, n, k);
  auto make = [](const std::vector<float>& f) { return std::vector<T>(f.begin(), f.end()); };
  const T* a = test::upload(ctx, mem, make(in.a));
  const T* b = test::upload(ctx, mem, make(in.b));
  T* c = test::upload(ctx, mem, make(in.c));
  gemm(ctx, ta, tb, m, n, k, T(alpha), a, in.lda, b, in.ldb, T(beta), c, in.ldc);
  return test::download(ctx, static_cast<const T*>(c), m * in.ldc);
}

/// product() with the test's own cublasGemmEx under CUBLAS_COMPUTE_32F_FAST_16BF (cublas_bf16.hpp):
/// what cuBLAS does with the call that cuda_math::bf16 stands for, on the same operands.
std::vector<float> cublas_product(const cuda_context& ctx, test::cuda_memory& mem, transpose ta, transpose tb,
                                  std::size_t m, std::size_t n, std::size_t k) {
  const operands in(ta, tb, m, n, k);
  const float* a = test::upload(ctx, mem, in.a);
  const float* b = test::upload(ctx, mem, in.b);
  float* c = test::upload(ctx, mem, in.c);
  test::cublas_fast_16bf(ctx, ta, tb, m, n, k, float(alpha), a, in.lda, b, in.ldb, float(beta), c, in.ldc);
  return test::download(ctx, static_cast<const float*>(c), m * in.ldc);
}

/// product() as cuda_math::bf16 defines it, on the host: A and B rounded to bfloat16 (round_to_bf16),
/// each product of rounded operands exact (8 x 8 significant bits), summed in double; C float32.
/// With `rounded` false, the same with A and B as they are: the product of cuBLAS when it keeps the
/// operands float32 (CUBLAS_COMPUTE_32F_FAST_16BF allows rounding, it does not oblige it).
/// `scale` is, per element of C, the sum of the magnitudes of its terms: what float32 accumulation's
/// error is proportional to (0 in C's padding, which must come back as it went).
struct bf16_reference {
  std::vector<double> c, scale;  // [m, ldc] @ host
  bf16_reference(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, bool rounded = true) {
    const operands in(ta, tb, m, n, k);
    auto r = [rounded](float x) { return rounded ? round_to_bf16(x) : x; };
    auto a = [&](std::size_t i, std::size_t l) {  // op(A)[i, l], rounded
      return r(ta == transpose::no ? in.a[i * in.lda + l] : in.a[l * in.lda + i]);
    };
    auto b = [&](std::size_t l, std::size_t j) {  // op(B)[l, j], rounded
      return r(tb == transpose::no ? in.b[l * in.ldb + j] : in.b[j * in.ldb + l]);
    };
    c.assign(in.c.begin(), in.c.end());
    scale.assign(c.size(), 0.0);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double sum = 0, magnitude = 0;
        for (std::size_t l = 0; l < k; ++l) {
          const double p = double(a(i, l)) * double(b(l, j));
          sum += p;
          magnitude += std::abs(p);
        }
        const double c0 = in.c[i * in.ldc + j];
        c[i * in.ldc + j] = alpha * sum + beta * c0;
        scale[i * in.ldc + j] = alpha * magnitude + beta * std::abs(c0);
      }
  }
  /// The largest |got - c| / scale (an element with scale 0 must be exact).
  double worst(const std::vector<float>& got) const {
    double w = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double e = std::abs(double(got[i]) - c[i]);
      w = std::max(w, scale[i] > 0 ? e / scale[i] : e > 0 ? HUGE_VAL : 0.0);
    }
    return w;
  }
};

template <class T>
void check_products(const cuda_context& ctx, double tolerance) {
  test::cuda_memory mem;
  host_context<sequential> host;
  test::host_memory host_mem;
  for (transpose ta : {transpose::no, transpose::yes})
    for (transpose tb : {transpose::no, transpose::yes}) {
      CAPTURE(bool(ta));
      CAPTURE(bool(tb));
      const auto want = product<T>(host, host_mem, ta, tb, 37, 29, 53);
      const auto got = product<T>(ctx, mem, ta, tb, 37, 29, 53);
      REQUIRE(got.size() == want.size());
      double worst = 0;
      for (std::size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) / std::max(1.0, std::abs(double(want[i]))));
      CHECK(worst < tolerance);
    }
}

/// A chain rule for column_sums' Scale path: d = d * (0.5 + from).
struct half_plus {
  __host__ __device__ float operator()(float dy, float f) const { return dy * (0.5f + f); }
};

/// column_sums<Cols, Scale> on d [rows, Cols] against sums in double (relative to the sum of the
/// magnitudes of each column's terms: float accumulation's error is proportional to it); the scaled d
/// must be the host's float products exactly, and a second call on the same data the same bits.
template <std::size_t Cols, bool Scale>
void check_column_sums(const cuda_context& ctx, std::size_t rows, bool accumulate) {
  CAPTURE(Cols);
  CAPTURE(Scale);
  CAPTURE(rows);
  CAPTURE(accumulate);
  const std::vector<float> d0 = test::random_floats(rows * Cols, 5), from = test::random_floats(rows * Cols, 6),
                           s0 = test::random_floats(Cols, 7);
  std::vector<float> scaled = d0;  // [rows, Cols] @ host
  std::vector<double> want(Cols, 0.0), magnitude(Cols, 0.0);
  for (std::size_t c = 0; c < Cols; ++c) want[c] = accumulate ? s0[c] : 0.0, magnitude[c] = std::abs(want[c]);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < Cols; ++c) {
      float& v = scaled[r * Cols + c];
      if constexpr (Scale) v = half_plus{}(v, from[r * Cols + c]);
      want[c] += v;
      magnitude[c] += std::abs(v);
    }
  std::vector<float> got[2];
  for (std::vector<float>& g : got) {
    test::cuda_memory mem;
    float* d = test::upload(ctx, mem, d0);
    float* sums = test::upload(ctx, mem, s0);
    column_sums<Cols, Scale>(ctx, d, static_cast<const float*>(test::upload(ctx, mem, from)), rows, sums, accumulate,
                             half_plus{});
    g = test::download(ctx, static_cast<const float*>(sums), Cols);
    CHECK(test::download(ctx, static_cast<const float*>(d), rows * Cols) == scaled);
  }
  CHECK(got[0] == got[1]);
  double worst = 0;
  for (std::size_t c = 0; c < Cols; ++c)
    worst = std::max(worst, std::abs(double(got[0][c]) - want[c]) / std::max(magnitude[c], 1e-30));
  CHECK(worst < 1e-5);
}

}  // namespace

TEST_CASE("column_sums: tall matrices are split into row chunks, added per column in a fixed order") {
  // 8192 rows of 10 columns (a classifier's bias gradient at batch 8192): 32 chunks of 256 rows instead
  // of one block walking every row; odd sizes, the one-chunk path, no rows, and a wide matrix (8 chunks).
  const cuda_context ctx(0, 0);
  check_column_sums<10, true>(ctx, 8192, false);
  check_column_sums<10, false>(ctx, 8192, true);
  check_column_sums<37, true>(ctx, 300, true);
  check_column_sums<37, false>(ctx, 1000003 / 37, false);
  check_column_sums<5, true>(ctx, 100, true);
  check_column_sums<5, false>(ctx, 0, true);
  check_column_sums<4096, true>(ctx, 2048, false);
}

TEST_CASE("cuBLAS GEMM on row-major data matches CBLAS for all four transpose combinations") {
  SUBCASE("float32") { check_products<float>(cuda_context(0, 0), 1e-5); }
  SUBCASE("double") { check_products<double>(cuda_context(0, 0), 1e-12); }
  SUBCASE("tf32 tensor cores: 10-bit mantissa inputs") {
    // [docs:tf32]
    const cuda_context tf32(0, 0, cuda_math::tf32);  // cuBLAS may use TF32 tensor cores for float GEMMs
    // [/docs:tf32]
    check_products<float>(tf32, 2e-2);
  }
}

TEST_CASE("bf16: float32 matrices multiplied with both operands rounded to bfloat16, float32 accumulation") {
  // CUBLAS_COMPUTE_32F_FAST_16BF allows cuBLAS to round A and B to bfloat16; it does not oblige it. So
  // each product is held to what cuBLAS itself does with the same call on the same data (the test's
  // own cublasGemmEx): where cuBLAS rounds, to the reference that rounds A and B with round_to_bf16
  // and adds in double; where it keeps float32 operands, to the same reference without rounding.
  // cuBLAS accumulates in float32, whose error over k terms is at most about k * 2^-24 of the sum of
  // their magnitudes (1.5e-5 for k = 256; typically far less). So 1e-4 of it passes any float32
  // accumulation, while products of unrounded operands miss the rounded reference by 6e-4 to 1.2e-3 of
  // it on this data (float32 and TF32 alike, computed on the host): the CHECK on f32 (above 4e-4) makes
  // sure the data tells the two apart, so a bf16 mode that plait ignored fails wherever cuBLAS rounds.
  const cuda_context bf16(0, 0, cuda_math::bf16), f32(0, 0);
  test::cuda_memory mem;
  constexpr double tolerance = 1e-4;
  struct mnk {
    std::size_t m, n, k;
  };
  std::size_t rounded = 0, products = 0;
  for (const mnk s :
       {mnk{37, 29, 53}, mnk{96, 64, 256}})  // non-square; odd sizes, then multiples of 32 (strides padded)
    for (transpose ta : {transpose::no, transpose::yes})
      for (transpose tb : {transpose::no, transpose::yes}) {
        CAPTURE(s.m);
        CAPTURE(s.k);
        CAPTURE(bool(ta));
        CAPTURE(bool(tb));
        const bf16_reference want(ta, tb, s.m, s.n, s.k), kept(ta, tb, s.m, s.n, s.k, false);
        const std::vector<float> by_cublas = cublas_product(bf16, mem, ta, tb, s.m, s.n, s.k);
        const bool rounds = want.worst(by_cublas) < tolerance;
        CHECK_MESSAGE((rounds || kept.worst(by_cublas) < tolerance),
                      "cuBLAS's own product is neither bf16's nor float32's");
        CAPTURE(rounds);
        CHECK((rounds ? want : kept).worst(product<float>(bf16, mem, ta, tb, s.m, s.n, s.k)) < tolerance);
        const std::vector<float> by_f32 = product<float>(f32, mem, ta, tb, s.m, s.n, s.k);
        CHECK(want.worst(by_f32) > 4 * tolerance);
        CHECK(kept.worst(by_f32) < tolerance);
        rounded += rounds, ++products;
      }
  MESSAGE("cuBLAS rounded the operands to bfloat16 in ", rounded, " of ", products,
          " products under CUBLAS_COMPUTE_32F_FAST_16BF");
}

TEST_CASE("bf16 products differ from float32 ones where cuBLAS rounds to bfloat16") {
  // A = 1 + 2^-10 (exact in float32 and in TF32's 10-bit mantissa; bfloat16 rounds it to 1), B = 1:
  // every element of A B is k (1 + 2^-10) = 64.0625 in float32, exactly k = 64 in bf16
  // (cublas_bf16.hpp). cuBLAS may keep float32 operands under CUBLAS_COMPUTE_32F_FAST_16BF, so plait's
  // bf16 product is held to what the test's own cublasGemmEx gives: where that is 64, a context whose
  // bf16 mode were ignored, or fell back to TF32, gives 64.0625 and fails.
  const std::size_t m = 32, n = 16, k = 64;
  const cuda_context bf16(0, 0, cuda_math::bf16), f32(0, 0);
  auto through_plait = [&](const cuda_context& ctx) {
    return test::probe_rounding(
        ctx, transpose::no, transpose::no, m, n, k,
        [&](const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc) {
          gemm(ctx, transpose::no, transpose::no, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
        });
  };
  const bool rounds = test::cublas_rounds(bf16, transpose::no, transpose::no, m, n, k);
  CHECK(through_plait(f32) == test::bf16_seen::float32);
  CHECK(through_plait(bf16) == (rounds ? test::bf16_seen::rounded : test::bf16_seen::float32));
  if (!rounds) MESSAGE("cuBLAS kept float32 operands for this product under CUBLAS_COMPUTE_32F_FAST_16BF");
}

TEST_CASE("cuda_math::bf16 products are cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF, float32 ones cublasSgemm") {
  // Where cuBLAS keeps float32 operands, the numbers cannot tell an ignored bf16 mode; the call can.
  // A product with C's row stride below its width is refused by cuBLAS (CUBLAS_STATUS_INVALID_VALUE)
  // before it runs, and plait's error names the call it made.
  const cuda_context bf16(0, 0, cuda_math::bf16), f32(0, 0);
  test::cuda_memory mem;
  const std::size_t m = 4, n = 8, k = 4;
  const float* a = mem.zeros<float>(m * k);
  const float* b = mem.zeros<float>(k * n);
  float* c = mem.zeros<float>(m * n);
  CHECK_THROWS_WITH_AS(gemm(bf16, transpose::no, transpose::no, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n - 1),
                       doctest::Contains("cublasGemmEx (float32 storage, CUBLAS_COMPUTE_32F_FAST_16BF)"), error);
  CHECK_THROWS_WITH_AS(gemm(f32, transpose::no, transpose::no, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n - 1),
                       doctest::Contains("cublasSgemm"), error);
}

TEST_CASE("two virtual devices on GPU 0 have their own streams and cuBLAS handles") {
  // [docs:virtual]
  const auto set = virtual_cuda_devices(2);              // two logical devices on GPU 0
  const std::vector<cuda_context> ctx = set.contexts();  // each: its own stream and cuBLAS handle
  // [/docs:virtual]
  CHECK(set.count == 2);
  REQUIRE(ctx.size() == 2);
  CHECK(ctx[0].index == 0);
  CHECK(ctx[1].index == 1);
  CHECK(ctx[0].device == 0);
  CHECK(ctx[1].device == 0);
  CHECK(ctx[0].stream() != ctx[1].stream());
  CHECK(ctx[0].blas() != ctx[1].blas());
  // Work on one stream does not need the other: each synchronises on its own.
  test::cuda_memory mem;
  float* x = mem.zeros<float>(1000);
  fill(ctx[0], x, 1000, 2.0f);
  CHECK(sum(ctx[0], static_cast<const float*>(x), 1000) == 2000.0f);
}

TEST_CASE("asking for a GPU the machine lacks is a plait error naming it") {
  try {
    (void)cuda_devices({0, 99});
    FAIL("cuda_devices({0, 99}) did not throw");
  } catch (const error& e) {
    const std::string what = e.what();
    CHECK(what.find("plait: CUDA device 99 was asked for") == 0);
    CHECK(what.find("Fix:") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(cuda_devices({0, 0}), doctest::Contains("names GPU 0 twice"), error);
  CHECK_THROWS_AS(cuda_context(0, -1), error);
}

TEST_CASE("a cuda_arena is one zeroed block of the planned size; pinned buffers are host memory") {
  // [docs:arena]
  const cuda_context ctx(0, 0);  // logical device 0 on GPU 0
  arena_plan plan;
  const std::size_t a = plan.reserve<float>(1000), b = plan.reserve<double>(3);
  const cuda_arena memory(plan, ctx);  // one cudaMalloc, zeroed on ctx's stream
  float* x = memory.at<float>(a);      // [1000] @ GPU 0
  // [/docs:arena]
  CHECK(memory.bytes() == plan.bytes());
  const auto zeros = test::download(ctx, static_cast<const float*>(x), 1000);
  CHECK(zeros == std::vector<float>(1000, 0.0f));
  fill(ctx, memory.at<double>(b), 3, 1.5);
  CHECK(test::download(ctx, static_cast<const double*>(memory.at<double>(b)), 3) == std::vector<double>{1.5, 1.5, 1.5});
  pinned_buffer<float> pinned(16);
  REQUIRE(pinned.data() != nullptr);
  copy_to_host(ctx, pinned.data(), memory.at<float>(a), 16);
  CHECK(pinned.values()[15] == 0.0f);
}

TEST_CASE("contexts and arenas on another GPU leave the caller's current device as it was") {
  // A model allocates its optimizer's state on each of its GPUs from the caller's thread: each
  // allocation (and each release) must give the caller its device back. Seen with two GPUs; on one,
  // the same calls run and the device stays 0.
  const int last = cuda_detail::device_count() - 1;
  auto current = [] {
    int d = -1;
    cuda_detail::cuda_check(cudaGetDevice(&d), "cudaGetDevice");
    return d;
  };
  if (last == 0) MESSAGE("one GPU: the device cannot be seen to move; the calls still run");
  const cuda_context ctx(0, last);
  cuda_detail::cuda_check(cudaSetDevice(0), "cudaSetDevice");
  {
    const cuda_arena memory(4096, ctx);  // a cudaMalloc on GPU `last`
    CHECK(memory.device() == last);
    CHECK(current() == 0);
    cuda_arena moved;
    moved = cuda_arena(1024, ctx);  // the move frees nothing yet; the temporary is empty
    CHECK(current() == 0);
    moved = cuda_arena();  // frees on GPU `last`
    CHECK(current() == 0);
  }
  CHECK(current() == 0);
  {
    const cuda_context other(1, last);  // a context's construction leaves its GPU current
    CHECK(current() == last);
    cuda_detail::cuda_check(cudaSetDevice(0), "cudaSetDevice");
  }  // destroyed on GPU `last`
  CHECK(current() == 0);
}

TEST_CASE("sum gives the host's bits; find_first finds the first match") {
  const cuda_context ctx(0, 0);
  test::cuda_memory mem;
  const auto v = test::random_floats(777, 5, -1e3f, 1e3f);
  const float* x = test::upload(ctx, mem, v);
  CHECK(sum(ctx, x, v.size()) == sum(host_context<sequential>{}, v.data(), v.size()));
  CHECK(find_first(ctx, v.size(), [=] PLAIT_HD(std::size_t i) { return x[i] > 990.0f; }) ==
        find_first(host_context<sequential>{}, v.size(), [&](std::size_t i) { return v[i] > 990.0f; }));
  CHECK(find_first(ctx, v.size(), [=] PLAIT_HD(std::size_t i) { return x[i] > 1e4f; }) == v.size());
}
