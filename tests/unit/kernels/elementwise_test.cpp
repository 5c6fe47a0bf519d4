// kernels/elementwise.hpp on host devices: for_rows calls its body once per row, for_blocks hands out
// a partition of [0, n) in blocks of the given size, add_to adds like a plain loop; on the
// sequential and the OpenMP host.
#include <doctest/doctest.h>

#include <atomic>
#include <plait/core/random.hpp>
#include <plait/kernels/reduce_host.hpp>
#include <vector>

using namespace plait;

TEST_CASE_TEMPLATE("for_rows: each row once", Ctx, host_context<sequential>, host_context<openmp>) {
  const Ctx ctx{.index = 0, .threads = 2};
  for (std::size_t rows : {0u, 1u, 7u, 1000u}) {
    std::vector<std::atomic<int>> hits(rows);
    for_rows(ctx, rows, [&hits](std::size_t r) { ++hits[r]; });
    for (std::size_t r = 0; r < rows; ++r) REQUIRE(hits[r] == 1);
  }
}

TEST_CASE_TEMPLATE("for_blocks: blocks of `block` that partition [0, n), the last one shorter", Ctx,
                   host_context<sequential>, host_context<openmp>) {
  const Ctx ctx{.index = 0, .threads = 2};
  for (std::size_t n : {0u, 1u, 99u, 100u, 101u, 4096u}) {
    std::vector<std::atomic<int>> hits(n);
    std::atomic<std::size_t> blocks{0}, bad{0};
    for_blocks(ctx, n, 100, [&](std::size_t b, std::size_t e) {
      ++blocks;
      if (b % 100 != 0 || e <= b || e - b > 100 || (e - b < 100 && e != n)) ++bad;
      for (std::size_t i = b; i < e; ++i) ++hits[i];
    });
    CHECK(bad == 0);
    CHECK(blocks == (n + 99) / 100);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i] == 1);
  }
}

TEST_CASE_TEMPLATE("add_to: dst[i] += src[i], as a plain loop", Ctx, host_context<sequential>, host_context<openmp>) {
  const Ctx ctx{.index = 0, .threads = 2};
  const std::size_t n = 10000;  // several blocks of 4096
  std::vector<float> dst(n), src(n), expected(n);
  splitmix64 rng(3);
  for (std::size_t i = 0; i < n; ++i) {
    dst[i] = rng.uniform(-1, 1);
    src[i] = rng.uniform(-1, 1);
    expected[i] = dst[i] + src[i];
  }
  add_to(ctx, dst.data(), src.data(), n);
  CHECK(dst == expected);
  add_to(ctx, dst.data(), src.data(), 0);  // nothing
  CHECK(dst == expected);
}

TEST_CASE("the host's grain is the caller's block") {
  static_assert(block_grain<host<sequential>>::of(256) == 256 && block_grain<host<openmp>>::of(7) == 7);
  CHECK(block_grain<host<sequential>>::of(4096) == 4096);
}
