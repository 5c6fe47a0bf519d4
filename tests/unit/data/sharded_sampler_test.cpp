#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <plait/core/shard.hpp>
#include <plait/data/sharded_sampler.hpp>
#include <plait/data/shuffle.hpp>
#include <vector>

// shard_of is the rule the runtime scatters batches by; these are checked by compiling.
using plait::shard;
using plait::shard_of;
static_assert(shard_of(0, 3, 0) == shard{0, 0} && shard_of(0, 3, 2) == shard{0, 0});  // n = 0: all empty
static_assert(shard_of(2, 3, 0) == shard{0, 1} && shard_of(2, 3, 1) == shard{1, 2});  // n < parts
static_assert(shard_of(2, 3, 2).empty() && shard_of(2, 3, 2).begin == 2);
static_assert(shard_of(12, 3, 0) == shard{0, 4} && shard_of(12, 3, 2) == shard{8, 12});  // even
static_assert(shard_of(10, 3, 0) == shard{0, 4} && shard_of(10, 3, 1) == shard{4, 7} &&  // n % parts != 0:
              shard_of(10, 3, 2) == shard{7, 10});                                       // the first get one more
static_assert(shard_of(11, 4, 2) == shard{6, 9} && shard_of(11, 4, 3) == shard{9, 11});
static_assert(shard_of(5, 1, 0) == shard{0, 5});
static_assert(shard_of(5, 0, 0).empty() && shard_of(5, 2, 2).empty());  // out of contract: empty

using index_vector = std::vector<std::size_t>;
using plait::last_batch;
using plait::sharded_sampler;

namespace {

index_vector concat_replicas(const sharded_sampler& s, std::size_t batch) {
  index_vector all;
  for (std::size_t r = 0; r < s.replicas(); ++r) {
    const auto part = s.indices(batch, r);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

index_vector epoch_indices(const sharded_sampler& s) {
  index_vector all;
  for (std::size_t b = 0; b < s.batches_per_epoch(); ++b) {
    const auto g = s.global_indices(b);
    all.insert(all.end(), g.begin(), g.end());
  }
  return all;
}

}  // namespace

TEST_CASE("shard_of tiles 0..n in order for many (n, parts)") {
  for (std::size_t parts = 1; parts <= 9; ++parts)
    for (std::size_t n = 0; n <= 40; ++n) {
      std::size_t next = 0;
      for (std::size_t i = 0; i < parts; ++i) {
        const shard s = shard_of(n, parts, i);
        CHECK(s.begin == next);
        CHECK(s.size() == n / parts + (i < n % parts ? 1 : 0));
        next = s.end;
      }
      CHECK(next == n);
    }
}

TEST_CASE("the replicas' parts of a global batch are, in order, the global batch") {
  for (std::size_t replicas : {1u, 2u, 3u, 4u, 7u}) {
    sharded_sampler s(103, replicas, {.global_batch = 14, .seed = 5});
    for (std::uint64_t epoch : {0u, 1u}) {
      s.set_epoch(epoch);
      for (std::size_t b = 0; b < s.batches_per_epoch(); ++b) {
        const auto g = s.global_indices(b);
        CHECK(concat_replicas(s, b) == index_vector(g.begin(), g.end()));
      }
    }
  }
}

TEST_CASE("an uneven split gives the first replicas one sample more: 10 over 3 is 4, 3, 3") {
  sharded_sampler s(50, 3, {.global_batch = 10, .shuffle = false});
  CHECK(s.indices(0, 0).size() == 4);
  CHECK(s.indices(0, 1).size() == 3);
  CHECK(s.indices(0, 2).size() == 3);
  CHECK(s.batch_size(0) == 4);
  CHECK(s.batch_size(2) == 3);
  // Unshuffled, batch 2 is samples 20..29: replica 1 gets positions [4, 7) of it.
  const auto part = s.indices(2, 1);
  CHECK(index_vector(part.begin(), part.end()) == index_vector{24, 25, 26});
}

TEST_CASE("drop_last: every sample at most once per epoch, only the tail dropped") {
  const std::size_t n = 103, gb = 10;
  sharded_sampler s(n, 4, {.global_batch = gb, .seed = 9, .last = last_batch::drop});
  CHECK(s.batches_per_epoch() == 10);
  for (std::uint64_t epoch : {0u, 3u}) {
    s.set_epoch(epoch);
    const index_vector seen = epoch_indices(s);
    CHECK(seen.size() == 100);
    // Exactly the first 100 positions of the epoch's order, in that order.
    const index_vector order = plait::permutation(n, 9, epoch);
    CHECK(seen == index_vector(order.begin(), order.begin() + 100));
    index_vector sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  }
}

TEST_CASE("pad: every sample at least once, the tail filled from the epoch's start") {
  SUBCASE("a partial last batch") {
    const std::size_t n = 23, gb = 10;
    sharded_sampler s(n, 3, {.global_batch = gb, .seed = 2, .last = last_batch::pad});
    s.set_epoch(4);
    CHECK(s.batches_per_epoch() == 3);
    const index_vector seen = epoch_indices(s);
    const index_vector order = plait::permutation(n, 2, 4);
    REQUIRE(seen.size() == 30);
    CHECK(index_vector(seen.begin(), seen.begin() + 23) == order);
    CHECK(index_vector(seen.begin() + 23, seen.end()) == index_vector(order.begin(), order.begin() + 7));
    for (std::size_t r = 0; r < 3; ++r) CHECK(s.indices(2, r).size() == s.indices(0, r).size());
  }
  SUBCASE("a dataset smaller than one global batch wraps around more than once") {
    sharded_sampler s(3, 2, {.global_batch = 8, .shuffle = false, .last = last_batch::pad});
    CHECK(s.batches_per_epoch() == 1);
    const auto g = s.global_indices(0);
    CHECK(index_vector(g.begin(), g.end()) == index_vector{0, 1, 2, 0, 1, 2, 0, 1});
  }
  SUBCASE("an exact multiple pads nothing") {
    sharded_sampler s(20, 2, {.global_batch = 10, .seed = 1, .last = last_batch::pad});
    index_vector seen = epoch_indices(s);
    std::sort(seen.begin(), seen.end());
    index_vector all(20);
    std::iota(all.begin(), all.end(), std::size_t{0});
    CHECK(seen == all);
  }
}

TEST_CASE("the same (seed, epoch) gives the same order, another epoch or seed another") {
  sharded_sampler a(1000, 4, {.global_batch = 64, .seed = 11});
  sharded_sampler b(1000, 4, {.global_batch = 64, .seed = 11});  // another replica's process
  sharded_sampler c(1000, 4, {.global_batch = 64, .seed = 12});
  a.set_epoch(7);
  b.set_epoch(7);
  c.set_epoch(7);
  CHECK(epoch_indices(a) == epoch_indices(b));
  CHECK(epoch_indices(a) != epoch_indices(c));
  const index_vector epoch7 = epoch_indices(a);
  a.set_epoch(8);
  CHECK(epoch_indices(a) != epoch7);
  CHECK(a.epoch() == 8);
  a.set_epoch(7);  // epochs can be revisited: resuming a run reproduces its order
  CHECK(epoch_indices(a) == epoch7);

  sharded_sampler plain(30, 3, {.global_batch = 10, .shuffle = false});
  plain.set_epoch(5);
  index_vector identity(30);
  std::iota(identity.begin(), identity.end(), std::size_t{0});
  CHECK(epoch_indices(plain) == identity);
}

TEST_CASE("order() is the epoch's order of the n samples, without the padding") {
  sharded_sampler s(23, 3, {.global_batch = 10, .seed = 2, .last = last_batch::pad});
  s.set_epoch(4);
  CHECK(index_vector(s.order().begin(), s.order().end()) == plait::permutation(23, 2, 4));
  CHECK(s.order().data() == s.global_indices(0).data());  // global batch b starts at position b * global_batch
  sharded_sampler plain(7, 2, {.global_batch = 2, .shuffle = false});
  CHECK(index_vector(plain.order().begin(), plain.order().end()) == index_vector{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("set_epoch reuses the storage: spans keep pointing at the same memory") {
  sharded_sampler s(100, 4, {.global_batch = 32, .seed = 3, .last = last_batch::pad});
  const std::size_t* before = s.global_indices(0).data();
  s.set_epoch(1);
  CHECK(s.global_indices(0).data() == before);
}

TEST_CASE("misuse is a plait::error in the library's format") {
  CHECK_THROWS_WITH_AS(sharded_sampler(10, 2, {.global_batch = 0}),
                       doctest::Contains("plait: sharded_sampler global_batch is 0."), plait::error);
  CHECK_THROWS_WITH_AS(sharded_sampler(10, 0, {.global_batch = 4}),
                       doctest::Contains("plait: sharded_sampler over 0 replicas."), plait::error);
  CHECK_THROWS_WITH_AS(sharded_sampler(10, 4, {.global_batch = 3}),
                       doctest::Contains("global_batch 3 is smaller than the 4 replicas"), plait::error);
  CHECK_THROWS_WITH_AS(sharded_sampler(5, 2, {.global_batch = 8}),
                       doctest::Contains("larger than the dataset (5 samples) with drop_last"), plait::error);
  CHECK_THROWS_AS(sharded_sampler(0, 2, {.global_batch = 2, .last = last_batch::pad}), plait::error);
  CHECK_NOTHROW(sharded_sampler(5, 2, {.global_batch = 8, .last = last_batch::pad}));

  sharded_sampler s(40, 4, {.global_batch = 8});
  CHECK_THROWS_WITH_AS((void)s.indices(5, 0), doctest::Contains("batch 5 is out of range"), plait::error);
  CHECK_THROWS_WITH_AS((void)s.indices(0, 4), doctest::Contains("replica 4 is out of range"), plait::error);
  CHECK_THROWS_WITH_AS((void)s.global_indices(5), doctest::Contains("Fix: "), plait::error);
}
