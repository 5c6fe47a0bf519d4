// core/random.hpp: splitmix64 is specified (the published sequence), deterministic, in range, and
// near uniform; mix_seed gives independent streams.
#include <doctest/doctest.h>

#include <cstdint>
#include <plait/core/random.hpp>
#include <set>
#include <vector>

using namespace plait;

TEST_CASE("splitmix64 gives the reference sequence") {
  // splitmix64 from seed 0 (Vigna's reference implementation).
  splitmix64 g(0);
  CHECK(g.next() == 0xe220a8397b1dcdafull);
  CHECK(g.next() == 0x6e789e6aa1b965f4ull);
  CHECK(g.next() == 0x06c45d188009454full);
}

TEST_CASE("the same seed gives the same numbers, another seed others") {
  splitmix64 a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    CHECK(x == b.next());
    CHECK(x != c.next());
  }
  static_assert(splitmix64(7).next() == splitmix64(7).next());  // constexpr
}

TEST_CASE("uniform01 is in [0, 1) with 24 bits; uniform(lo, hi) in [lo, hi)") {
  splitmix64 g(1);
  double mean = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float u = g.uniform01();
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    REQUIRE(u * 0x1p24f == float(std::uint32_t(u * 0x1p24f)));  // a multiple of 2^-24
    mean += u;
  }
  CHECK(mean / n == doctest::Approx(0.5).epsilon(0.01));
  for (int i = 0; i < 1000; ++i) {
    const float x = g.uniform(-3.0f, 2.0f);
    REQUIRE(x >= -3.0f);
    REQUIRE(x < 2.0f);
  }
}

TEST_CASE("below(bound) is in [0, bound) and hits every value about equally") {
  splitmix64 g(9);
  std::vector<int> counts(7);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const auto k = g.below(7);
    REQUIRE(k < 7);
    ++counts[k];
  }
  for (int c : counts) CHECK(c == doctest::Approx(n / 7).epsilon(0.05));
  CHECK(g.below(1) == 0);
  // A bound just above 2^63: still in range (rejection handles the uneven remainder).
  const std::uint64_t big = (std::uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 1000; ++i) REQUIRE(g.below(big) < big);
}

TEST_CASE("mix_seed: deterministic, and different for different seeds, epochs or layers") {
  CHECK(mix_seed(1, 2, 3) == mix_seed(1, 2, 3));
  std::set<std::uint64_t> seen;
  for (std::uint64_t s = 0; s < 4; ++s)
    for (std::uint64_t a = 0; a < 8; ++a)
      for (std::uint64_t b = 0; b < 8; ++b) seen.insert(mix_seed(s, a, b));
  CHECK(seen.size() == 4 * 8 * 8);
  CHECK(mix_seed(5, 1) == mix_seed(5, 1, 0));
  CHECK(mix_seed(5, 1, 2) != mix_seed(5, 2, 1));
}
