#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <plait/data/shuffle.hpp>
#include <vector>

using index_vector = std::vector<std::size_t>;

namespace {

bool is_permutation_of_iota(index_vector v) {
  std::sort(v.begin(), v.end());
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] != i) return false;
  return true;
}

}  // namespace

TEST_CASE("splitmix64 matches the published reference sequence") {
  // Seed 1234567, as in the reference tables of SplittableRandom / Rosetta Code.
  plait::splitmix64 g{1234567};
  CHECK(g.next() == 6457827717110365317ull);
  CHECK(g.next() == 3203168211198807973ull);
  CHECK(g.next() == 9817491932198370423ull);
  CHECK(g.next() == 4593380528125082431ull);
  CHECK(g.next() == 16408922859458223821ull);
}

TEST_CASE("xoshiro256** matches the reference implementation from state {1, 2, 3, 4}") {
  plait::xoshiro256ss g(1, 2, 3, 4);
  CHECK(g.next() == 11520ull);
  CHECK(g.next() == 0ull);
  CHECK(g.next() == 1509978240ull);
  CHECK(g.next() == 1215971899390074240ull);
}

TEST_CASE("the generator is usable at compile time") {
  constexpr auto first = [] {
    plait::xoshiro256ss g(1, 2, 3, 4);
    return g.next();
  }();
  static_assert(first == 11520);
}

TEST_CASE("permutation is fixed by (seed, epoch) on every platform") {
  // Golden orders, computed independently from the algorithm's specification in shuffle.hpp.
  CHECK(plait::permutation(10, 42, 0) == index_vector{7, 5, 1, 8, 2, 0, 4, 6, 9, 3});
  CHECK(plait::permutation(10, 42, 1) == index_vector{5, 0, 8, 3, 7, 9, 2, 6, 4, 1});
  CHECK(plait::permutation(10, 0, 0) == index_vector{1, 3, 9, 2, 4, 5, 7, 6, 0, 8});
}

TEST_CASE("permutation is a permutation, repeatable, and changes with epoch and seed") {
  for (std::size_t n : {0u, 1u, 2u, 3u, 17u, 1000u}) {
    CAPTURE(n);
    const auto a = plait::permutation(n, 7, 3);
    CHECK(a.size() == n);
    CHECK(is_permutation_of_iota(a));
    CHECK(a == plait::permutation(n, 7, 3));
  }
  const auto base = plait::permutation(1000, 7, 3);
  CHECK(base != plait::permutation(1000, 7, 4));
  CHECK(base != plait::permutation(1000, 8, 3));
  CHECK(plait::permutation(1000, 0, 1) != plait::permutation(1000, 1, 0));
  index_vector identity(1000);
  std::iota(identity.begin(), identity.end(), std::size_t{0});
  CHECK(base != identity);
}

TEST_CASE("shuffle_indices fills a caller's span with the same order as permutation") {
  index_vector buffer(257, 12345);  // old contents must not matter
  plait::shuffle_indices(buffer, 99, 5);
  CHECK(buffer == plait::permutation(257, 99, 5));
}

TEST_CASE("below draws every value of a small range about equally often") {
  // 3 does not divide 2^64, so a biased draw (plain modulo) would differ; with 60000 draws the
  // counts of a fair draw stay within 5 standard deviations (~ 5 * 115) of 20000.
  plait::xoshiro256ss g(2024);
  std::size_t counts[3] = {0, 0, 0};
  for (int i = 0; i < 60000; ++i) ++counts[g.below(3)];
  for (std::size_t c : counts) CHECK(c > 19400);
  for (std::size_t c : counts) CHECK(c < 20600);
  std::uint64_t sum = 0;
  for (int i = 0; i < 1000; ++i) sum += g.below(1);
  CHECK(sum == 0);
}

TEST_CASE("every position receives every element about equally often") {
  // Fisher-Yates with an unbiased draw gives each of the n! orders; check the first position.
  constexpr std::size_t n = 5;
  std::size_t first[n] = {};
  for (std::uint64_t epoch = 0; epoch < 20000; ++epoch) ++first[plait::permutation(n, 1, epoch)[0]];
  for (std::size_t c : first) CHECK(c > 3700);  // expected 4000, sd ~ 57
  for (std::size_t c : first) CHECK(c < 4300);
}
