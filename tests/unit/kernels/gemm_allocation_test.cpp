// A step allocates nothing, and that includes what the libraries under plait allocate with C's
// allocators (oneDNN's dnnl_sgemm takes a packing buffer from posix_memalign on the products plait
// leaves on OpenBLAS): every C allocation of the process is counted here while host devices run their
// float32 products, on oneDNN's side of sgemm_library_for's rule and on OpenBLAS's: none, on devices of
// one thread and of two. (OpenBLAS 0.3.21 on several threads of its own mallocs its threads' job array
// once per product, built with USE_ALLOC_HEAP as Debian's is: plait splits a product over the device's
// OpenMP team itself and runs OpenBLAS on one thread, kernels/gemm_host.hpp.) Not under a sanitizer,
// whose runtime owns malloc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <plait/plait.hpp>
#include <vector>

#include "counting_malloc.hpp"

using namespace plait;

TEST_CASE("host float32 products allocate nothing, on one thread or two, on either library, beta 0 or 1") {
#if PLAIT_COUNTS_C_ALLOCATIONS
  // {m, n, k, A transposed}: a layer's forward, input gradient and weight gradient at three sizes.
  struct product {
    std::size_t m, n, k;
    bool ta, tb;
  };
  const product products[] = {
      {32, 64, 64, false, true},    {32, 64, 64, false, false},    {64, 64, 32, true, false},
      {128, 128, 784, false, true}, {128, 784, 128, false, false}, {128, 784, 128, true, false},
      {64, 512, 512, false, true},  {64, 512, 512, false, false},  {512, 512, 64, true, false},
  };
  for (unsigned threads : {1u, 2u}) {
    CAPTURE(threads);
    host_context<openmp> ctx{};
    ctx.threads = threads;
    ctx.enter();
    for (const product& p : products) {
      CAPTURE(p.m);
      CAPTURE(p.n);
      CAPTURE(p.k);
      CAPTURE(p.ta);
      CAPTURE(sgemm_library_for(transpose(p.ta), p.m, p.n, p.k, threads) == host_sgemm_library::onednn);
      CAPTURE(sgemm_parts(p.m, p.n, p.k, threads));
      std::vector<float> a(p.m * p.k, 0.5f), b(p.k * p.n, 0.25f), c(p.m * p.n);
      const auto run = [&] {
        for (float beta : {1.0f, 0.0f})
          gemm(ctx, transpose(p.ta), transpose(p.tb), p.m, p.n, p.k, 1.0f, a.data(), p.ta ? p.m : p.k, b.data(),
               p.tb ? p.k : p.n, beta, c.data(), p.n);
      };
      for (int i = 0; i < 3; ++i) run();  // the libraries' first calls set up (oneDNN's JIT, OpenBLAS's buffers)
      const long before = plait::test::c_allocations.load();
      for (int i = 0; i < 20; ++i) run();
      const long made = plait::test::c_allocations.load() - before;
      CAPTURE(made);
      CHECK(made == 0);
    }
  }
  host_context<sequential>{}.enter();
#else
  MESSAGE("not counted under a sanitizer, whose runtime owns malloc");
#endif
}

TEST_CASE("a training step allocates nothing, the libraries' C allocations counted: 1 and 2 threads, 2 devices") {
#if PLAIT_COUNTS_C_ALLOCATIONS
  // Products of 64 x 256 x 256 multiply-adds: split over the device's two threads (sgemm_parts).
  constexpr auto net = input<256> >> linear<256> >> relu >> linear<256> >> relu >> linear<10>;
  static_assert(sgemm_parts(64, 256, 256, 2) == 2);
  const auto check = [&](auto& model) {
    std::vector<float> x(64 * 256);
    std::vector<std::int32_t> y(64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 17) / 17.0f - 0.5f;
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 10);
    auto opt = adam{};
    const auto step = [&] {
      return model.train_step(samples<shape<256>>{x.data(), 64}, class_labels{y.data(), 64}, cross_entropy, opt);
    };
    for (int i = 0; i < 3; ++i) step();  // plans the optimizer's state; the libraries set up
    const long before = plait::test::c_allocations.load();
    float loss = 0;
    for (int i = 0; i < 5; ++i) loss = step();
    CHECK(plait::test::c_allocations.load() - before == 0);
    CHECK(std::isfinite(loss));
  };
  for (unsigned threads : {1u, 2u}) {
    CAPTURE(threads);
    auto model = place(net, host_device<openmp>(threads), {.max_batch = 64, .seed = 3});
    check(model);
  }
  // Two devices of one thread, their gradients all-reduced, and a pipeline of two.
  auto replicated = place<replicate<2>>(net, host_devices<openmp>(2, 1), {.max_batch = 64, .seed = 3});
  check(replicated);
  auto piped =
      place<pipeline<2, microbatches<4>, one_f_one_b>>(net, host_devices<openmp>(2, 1), {.max_batch = 64, .seed = 3});
  check(piped);
#else
  MESSAGE("not counted under a sanitizer, whose runtime owns malloc");
#endif
}
