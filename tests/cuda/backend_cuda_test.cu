// The CUDA backend below the layers: contexts and device sets (virtual devices), planned device
// memory, cuBLAS GEMM on row-major data against CBLAS, and the reductions against the host's.
#include "cuda_test_main.hpp"

#include <plait/cuda.hpp>
#include <string>

#include "backend_check.hpp"
#include "cuda_memory.hpp"

using namespace plait;

namespace {

/// C = alpha op(A) op(B) + beta C on ctx, for row-major A, B, C with padded row strides.
template <class T, class Ctx, class Mem>
std::vector<T> product(const Ctx& ctx, Mem& mem, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k) {
  const std::size_t a_rows = ta == transpose::no ? m : k, a_cols = ta == transpose::no ? k : m;
  const std::size_t b_rows = tb == transpose::no ? k : n, b_cols = tb == transpose::no ? n : k;
  const std::size_t lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2;
  auto make = [](std::size_t count, std::uint64_t seed) {
    const auto f = test::random_floats(count, seed);
    return std::vector<T>(f.begin(), f.end());
  };
  const T* a = test::upload(ctx, mem, make(a_rows * lda, 1));
  const T* b = test::upload(ctx, mem, make(b_rows * ldb, 2));
  T* c = test::upload(ctx, mem, make(m * ldc, 3));
  gemm(ctx, ta, tb, m, n, k, T(0.75), a, lda, b, ldb, T(0.5), c, ldc);
  return test::download(ctx, static_cast<const T*>(c), m * ldc);
}

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

}  // namespace

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

TEST_CASE("two virtual devices on GPU 0 have their own streams and cuBLAS handles") {
  // [docs:virtual]
  const auto set = virtual_cuda_devices(2);  // two logical devices on GPU 0
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
