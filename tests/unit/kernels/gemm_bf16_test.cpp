// host_math::bf16 products (kernels/gemm_host.hpp, kernels/detail/bf16_products.hpp): float32 matrices
// multiplied by oneDNN with both operands rounded to bfloat16 and float32 accumulation, held to the
// reference that rounds them with round_to_bf16 and adds in double, as tests/cuda/backend_cuda_test.cu
// holds cuda_math::bf16; and the refusal on a CPU without bfloat16 instructions.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <plait/core/bf16.hpp>
#include <plait/plait.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "backend_check.hpp"
#include "counting_new.hpp"

using namespace plait;

namespace {

/// Whether this process's oneDNN multiplies bfloat16 natively (else every bf16 case checks the refusal).
bool bf16_cpu() { return host_detail::has_bf16(host_detail::effective_isa()); }

/// Whether this process was started with oneDNN capped below AVX-512 BF16 (the refusal's CTest entry).
bool capped() {
  const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  return isa && std::string_view(isa) == "AVX512_CORE";
}

/// product()'s operands: row-major A, B, C with padded row strides, uniform in [-1, 1).
struct operands {
  std::size_t lda, ldb, ldc;
  std::vector<float> a, b, c;  // [op(A) stored rows, lda], [op(B) stored rows, ldb], [m, ldc]
  operands(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k)
      : lda((ta == transpose::no ? k : m) + 3),
        ldb((tb == transpose::no ? n : k) + 1),
        ldc(n + 2),
        a(test::random_floats((ta == transpose::no ? m : k) * lda, 1)),
        b(test::random_floats((tb == transpose::no ? k : n) * ldb, 2)),
        c(test::random_floats(m * ldc, 3)) {}
};

/// C = alpha op(A) op(B) + beta C through gemm on ctx; C whole, with its padding.
std::vector<float> product(const host_context<openmp>& ctx, transpose ta, transpose tb, std::size_t m, std::size_t n,
                           std::size_t k, float alpha, float beta) {
  operands in(ta, tb, m, n, k);
  gemm(ctx, ta, tb, m, n, k, alpha, in.a.data(), in.lda, in.b.data(), in.ldb, beta, in.c.data(), in.ldc);
  return in.c;
}

/// product() as bf16 defines it: A and B rounded with round_to_bf16, each product of rounded operands
/// exact (8 x 8 significant bits), summed in double; with `rounded` false, A and B as they are.
/// `scale` is, per element of C, the sum of its terms' magnitudes: what float32 accumulation's error is
/// proportional to (0 in C's padding, which must come back as it went).
struct bf16_reference {
  std::vector<double> c, scale;  // [m, ldc]
  bf16_reference(transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, float alpha, float beta,
                 bool rounded = true) {
    const operands in(ta, tb, m, n, k);
    auto r = [rounded](float x) { return rounded ? round_to_bf16(x) : x; };
    auto a = [&](std::size_t i, std::size_t l) {
      return r(ta == transpose::no ? in.a[i * in.lda + l] : in.a[l * in.lda + i]);
    };
    auto b = [&](std::size_t l, std::size_t j) {
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
        const double c0 = beta == 0 ? 0.0 : in.c[i * in.ldc + j];  // beta 0 ignores C, as BLAS does
        c[i * in.ldc + j] = alpha * sum + beta * c0;
        scale[i * in.ldc + j] = std::abs(alpha) * magnitude + std::abs(beta * c0);
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

}  // namespace

TEST_CASE("host_math::bf16 is refused on a CPU without bfloat16 instructions") {
  // CTest runs this case a second time with ONEDNN_MAX_CPU_ISA=AVX512_CORE, which oneDNN reads before its
  // first use: there the CPU must be seen without bf16, and every way of asking for bf16 refused.
  if (capped()) REQUIRE_FALSE(bf16_cpu());
  if (bf16_cpu()) {
    CHECK_NOTHROW((void)host_device(1, host_math::bf16));
    MESSAGE("oneDNN runs this CPU with ", host_detail::isa_name(host_detail::effective_isa()));
    return;
  }
  const auto refused = doctest::Contains(
      "plait: host_math::bf16 was asked for on a CPU without bfloat16 instructions. oneDNN runs this CPU with ");
  CHECK_THROWS_WITH_AS((void)host_device(2, host_math::bf16), refused, error);
  CHECK_THROWS_WITH_AS((void)host_devices<openmp>(2, 1, host_math::bf16), refused, error);
  CHECK_THROWS_WITH_AS((void)host_devices<openmp>(2, 1, host_math::bf16),
                       doctest::Contains("Fix: use host_math::float32"), error);
  // A device set or a context made by hand with bf16 is refused where it is used.
  const device_set<host<sequential>> by_hand{1, 1, host_math::bf16};
  CHECK_THROWS_WITH_AS((void)device_traits<host<sequential>>::make_context(by_hand, 0, 0), refused, error);
  const host_context<sequential> ctx{.math = host_math::bf16};
  float a = 1, b = 1, c = 0;
  CHECK_THROWS_WITH_AS(gemm(ctx, transpose::no, transpose::no, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1), refused,
                       error);
  CHECK_NOTHROW((void)host_device(2));  // float32 stays available
}

TEST_CASE("bf16: float32 matrices multiplied with both operands rounded to bfloat16, float32 accumulation") {
  // float32 accumulation's error over k terms is at most about k 2^-24 of the sum of their magnitudes
  // (1.5e-5 for k = 256, typically far less): 1e-4 of it passes any float32 accumulation, while
  // products of unrounded operands miss the rounded reference by 6e-4 to 1.2e-3 of it on this data. The
  // CHECKs on the float32 device (above 4e-4 from the rounded reference, below 1e-4 from the unrounded
  // one) make sure the data tells the two apart, so an ignored bf16 mode fails.
  if (!bf16_cpu()) {
    MESSAGE("this CPU has no bfloat16 instructions: host_math::bf16 is refused (case above)");
    return;
  }
  // [docs:host_bf16_context]
  const host_context<openmp> bf16{.threads = 2, .math = host_math::bf16};  // float products: oneDNN, bf16
  // [/docs:host_bf16_context]
  const host_context<openmp> f32{.threads = 2};
  bf16.enter();  // this thread's OpenMP and OpenBLAS threads: 2, as a device's worker sets them
  constexpr double tolerance = 1e-4;
  struct case_ {
    std::size_t m, n, k;
    float alpha, beta;
  };
  for (const case_ s : {case_{37, 29, 53, 0.75f, 0.5f}, case_{96, 64, 256, 1.0f, 0.0f}, case_{96, 64, 256, 1.0f, 1.0f},
                        case_{1, 7, 300, -2.0f, 0.25f}, case_{13, 1, 5, 1.0f, 0.0f}, case_{257, 130, 65, 0.5f, 1.0f},
                        case_{512, 400, 384, 1.0f, 1.0f}})  // the last above parallel_macs: on 2 threads
    for (transpose ta : {transpose::no, transpose::yes})
      for (transpose tb : {transpose::no, transpose::yes}) {
        CAPTURE(s.m);
        CAPTURE(s.n);
        CAPTURE(s.k);
        CAPTURE(s.alpha);
        CAPTURE(s.beta);
        CAPTURE(bool(ta));
        CAPTURE(bool(tb));
        const bf16_reference want(ta, tb, s.m, s.n, s.k, s.alpha, s.beta),
            kept(ta, tb, s.m, s.n, s.k, s.alpha, s.beta, false);
        CHECK(want.worst(product(bf16, ta, tb, s.m, s.n, s.k, s.alpha, s.beta)) < tolerance);
        const std::vector<float> by_f32 = product(f32, ta, tb, s.m, s.n, s.k, s.alpha, s.beta);
        CHECK(kept.worst(by_f32) < tolerance);
        if (s.k >= 50 && s.m * s.n >= 100) CHECK(want.worst(by_f32) > 4 * tolerance);  // few may round alike
      }
  // C's padded rows (row stride n + 2) take oneDNN 2.6 off its brgemm kernels to its gemm:jit one; a
  // layer's C is dense (case below).
  MESSAGE("oneDNN's matmul for a 96 x 64 x 256 product, C's rows padded: ",
          bf16.bf16_state->implementation(transpose::no, transpose::no, 96, 64, 256, 1.0f, 0.0f, 66));
}

TEST_CASE("bf16 products differ from float32 ones on data that tells them apart") {
  // A = 1 + 2^-10 (bfloat16 rounds it to 1; float32 keeps it), B = 1: every element of A B is exactly
  // k = 64 in bf16 and k (1 + 2^-10) = 64.0625 in float32.
  if (!bf16_cpu()) {
    MESSAGE("this CPU has no bfloat16 instructions");
    return;
  }
  const std::size_t m = 32, n = 16, k = 64;
  const std::vector<float> a(m * k, 1.0f + 0x1p-10f), b(k * n, 1.0f);
  auto through = [&](host_math math) {
    const host_context<sequential> ctx{.math = math};
    std::vector<float> c(m * n, -1.0f);
    gemm(ctx, transpose::no, transpose::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    return c;
  };
  CHECK(through(host_math::bf16) == std::vector<float>(m * n, 64.0f));
  CHECK(through(host_math::float32) == std::vector<float>(m * n, 64.0625f));
}

TEST_CASE("a bf16 product of a shape met before makes no primitive and grows no scratch") {
  if (!bf16_cpu()) {
    MESSAGE("this CPU has no bfloat16 instructions");
    return;
  }
  const host_context<sequential> ctx{.math = host_math::bf16};
  const std::size_t m = 256, n = 192, k = 320;  // operands of 160 and 120 KiB in bfloat16
  const auto a = test::random_floats(m * k, 4), b = test::random_floats(n * k, 5);
  std::vector<float> c(m * n);
  auto multiply = [&] {
    gemm(ctx, transpose::no, transpose::yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  };
  multiply();
  // A dense C, as layers give it: oneDNN's brgemm kernels on AVX-512 BF16 or AMX.
  const std::string impl = ctx.bf16_state->implementation(transpose::no, transpose::yes, m, n, k, 1.0f, 0.0f, n);
  CAPTURE(impl);
  CHECK((impl.find("brg:avx512_core_bf16") != std::string::npos || impl.find("amx") != std::string::npos));
  const std::size_t shapes = ctx.bf16_state->shapes(), bytes = ctx.bf16_state->scratch_bytes();
  const std::size_t before = test::thread_new_calls;
  test::largest_new = 0;
  for (int i = 0; i < 10; ++i) multiply();
  CHECK(ctx.bf16_state->shapes() == shapes);
  CHECK(ctx.bf16_state->scratch_bytes() == bytes);
  // What remains is oneDNN's execute (its argument map and execution context): a few blocks of at most
  // a few KiB (with oneDNN 2.6 here: about 6 per product, of about 100 bytes), none the size of an operand.
  MESSAGE("operator new per repeated product: ", double(test::thread_new_calls - before) / 10, " calls, the largest ",
          test::largest_new.load(), " bytes");
  CHECK(test::largest_new <= 16384);
  // A smaller shape fits in the scratch the larger one grew.
  gemm(ctx, transpose::no, transpose::yes, m / 2, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  CHECK(ctx.bf16_state->shapes() == shapes + 1);
  CHECK(ctx.bf16_state->scratch_bytes() == bytes);
}
