// kernels/reduce.hpp on host devices (reduce_host.hpp): sum, sum_into, find_first and column_sums
// against plain loops, to the bit (the same order of additions).
#include <doctest/doctest.h>

#include <plait/core/random.hpp>
#include <plait/kernels/reduce_host.hpp>
#include <vector>

using namespace plait;

namespace {
std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  splitmix64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(-1, 1);
  return v;
}
}  // namespace

TEST_CASE_TEMPLATE("sum: in index order, in double", Ctx, host_context<sequential>, host_context<openmp>) {
  const Ctx ctx{};
  const auto x = random_vector(1001, 1);
  double s = 0;
  for (float v : x) s += double(v);
  CHECK(sum(ctx, x.data(), x.size()) == float(s));
  CHECK(sum(ctx, x.data(), 0) == 0.0f);
  // In double, a sum that float would lose: 2^24 + 1 + 1.
  const std::vector<float> big{16777216.0f, 1.0f, 1.0f};
  CHECK(sum(ctx, big.data(), 3) == 16777218.0f);
}

TEST_CASE_TEMPLATE("sum_into: into or onto the accumulator", Ctx, host_context<sequential>, host_context<openmp>) {
  const Ctx ctx{};
  const auto x = random_vector(50, 2);
  const double part = double(sum(ctx, x.data(), x.size()));
  double acc = 100.0;
  sum_into(ctx, x.data(), x.size(), &acc, false);
  CHECK(acc == part);
  sum_into(ctx, x.data(), x.size(), &acc, true);
  CHECK(acc == part + part);
}

TEST_CASE_TEMPLATE("find_first: the smallest index for which pred holds, or n", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  const Ctx ctx{};
  const std::vector<int> v{4, 0, 7, 7, 0, 9};
  const int* p = v.data();
  CHECK(find_first(ctx, v.size(), [p](std::size_t i) { return p[i] == 7; }) == 2);
  CHECK(find_first(ctx, v.size(), [p](std::size_t i) { return p[i] == 0; }) == 1);
  CHECK(find_first(ctx, v.size(), [p](std::size_t i) { return p[i] > 100; }) == v.size());
  CHECK(find_first(ctx, 0, [](std::size_t) { return true; }) == 0);
}

TEST_CASE_TEMPLATE("column_sums: scaled in place, then summed by column in row order", Ctx, host_context<sequential>,
                   host_context<openmp>) {
  const Ctx ctx{.index = 0, .threads = 2};
  constexpr std::size_t rows = 9, cols = 300;  // more columns than one block of 256
  const auto d0 = random_vector(rows * cols, 3), from = random_vector(rows * cols, 4), s0 = random_vector(cols, 5);
  const auto grad = [](float dy, float z) { return dy * (z > 0 ? 1.0f : 0.5f); };  // dy times a derivative

  for (bool scale : {false, true})
    for (bool accumulate : {false, true}) {
      CAPTURE(scale);
      CAPTURE(accumulate);
      auto d = d0, sums = s0, expected_d = d0, expected_sums = s0;
      for (std::size_t c = 0; c < cols; ++c) {
        if (!accumulate) expected_sums[c] = 0;
        for (std::size_t r = 0; r < rows; ++r) {
          if (scale) expected_d[r * cols + c] = grad(expected_d[r * cols + c], from[r * cols + c]);
          expected_sums[c] += expected_d[r * cols + c];
        }
      }
      if (scale) column_sums<cols, true>(ctx, d.data(), from.data(), rows, sums.data(), accumulate, grad);
      else column_sums<cols, false>(ctx, d.data(), from.data(), rows, sums.data(), accumulate, grad);
      CHECK(d == expected_d);
      CHECK(sums == expected_sums);
    }
}
