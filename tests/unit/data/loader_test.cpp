#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <plait/data/loader.hpp>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

using plait::class_labels;
using plait::samples;
using plait::shape;
using label_set = plait::in_memory_dataset<shape<3>, class_labels>;
using regression_set = plait::in_memory_dataset<shape<2>, samples<shape<2>>>;

namespace {

// Sample i has features {i, i + 0.25, i + 0.5} and label i, so a batch names its samples.
label_set make_labels(std::size_t n) {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (std::size_t i = 0; i < n; ++i) {
    const auto f = static_cast<float>(i);
    x.insert(x.end(), {f, f + 0.25f, f + 0.5f});
    y.push_back(static_cast<std::int32_t>(i));
  }
  return label_set(std::move(x), std::move(y));
}

struct seen_batch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  bool operator==(const seen_batch&) const = default;
};

std::vector<seen_batch> record_epoch(plait::loader<label_set>& l, std::uint64_t epoch) {
  std::vector<seen_batch> out;
  for (auto& b : l.epoch(epoch)) {
    const auto xs = b.x.values();
    out.push_back({{xs.begin(), xs.end()}, {b.y.data, b.y.data + b.y.count}});
  }
  return out;
}

// A dataset whose gather fails for one sample, to see the worker's exception reach the caller.
struct failing_set {
  using x_shape = shape<1>;
  using target_kind = class_labels;
  std::size_t poisoned;
  std::size_t size() const { return 10; }
  void gather(std::span<const std::size_t> idx, float* x, std::int32_t* y) const {
    for (std::size_t j = 0; j < idx.size(); ++j) {
      if (idx[j] == poisoned) throw std::runtime_error("gather failed on purpose");
      x[j] = static_cast<float>(idx[j]);
      y[j] = 0;
    }
  }
};
static_assert(plait::Dataset<failing_set>);

// A dataset that counts how far ahead the worker gathers.
struct counting_set {
  using x_shape = shape<1>;
  using target_kind = class_labels;
  mutable std::atomic<std::size_t> gathers{0};
  std::size_t size() const { return 100; }
  void gather(std::span<const std::size_t> idx, float* x, std::int32_t* y) const {
    ++gathers;
    for (std::size_t j = 0; j < idx.size(); ++j) x[j] = static_cast<float>(idx[j]), y[j] = 0;
  }
};

}  // namespace

TEST_CASE("every sample appears exactly once per epoch, in the shuffle's order") {
  const label_set data = make_labels(103);
  for (bool prefetch : {true, false}) {
    CAPTURE(prefetch);
    plait::loader batches(data, {.batch_size = 10, .seed = 5, .prefetch = prefetch});
    CHECK(batches.batches_per_epoch() == 11);
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      const auto expected = plait::permutation(103, 5, epoch);
      std::vector<std::size_t> order;
      std::size_t count = 0;
      for (auto& b : batches.epoch(epoch)) {
        CHECK(b.number == count++);
        CHECK(b.size() == (b.number == 10 ? 3u : 10u));  // the partial batch comes last
        for (std::size_t j = 0; j < b.size(); ++j) {
          const auto i = static_cast<std::size_t>(b.y.data[j]);
          CHECK(b.indices[j] == i);
          CHECK(b.x.sample(j)[2] == static_cast<float>(i) + 0.5f);  // features travel with their label
          order.push_back(i);
        }
      }
      CHECK(count == 11);
      CHECK(order == expected);
      CHECK(std::vector<std::size_t>(batches.order().begin(), batches.order().end()) == expected);
    }
  }
}

TEST_CASE("prefetching and gathering on the caller give identical batches") {
  const label_set data = make_labels(50);
  plait::loader ahead(data, {.batch_size = 7, .seed = 11});
  plait::loader inline_(data, {.batch_size = 7, .seed = 11, .prefetch = false});
  for (std::uint64_t epoch : {0u, 1u, 7u, 1u}) {
    CAPTURE(epoch);
    const auto a = record_epoch(ahead, epoch);
    CHECK(a.size() == 8);
    CHECK(a == record_epoch(inline_, epoch));
  }
  CHECK(record_epoch(ahead, 0) != record_epoch(ahead, 1));
}

TEST_CASE("without shuffle, batches follow the dataset order") {
  const label_set data = make_labels(9);
  plait::loader batches(data, {.batch_size = 4, .shuffle = false});
  std::vector<std::int32_t> labels;
  for (auto& b : batches.epoch(3)) labels.insert(labels.end(), b.y.data, b.y.data + b.y.count);
  CHECK(labels == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("drop_last skips the partial batch") {
  const label_set data = make_labels(23);
  for (bool prefetch : {true, false}) {
    plait::loader batches(data, {.batch_size = 5, .drop_last = true, .prefetch = prefetch});
    CHECK(batches.batches_per_epoch() == 4);
    std::size_t count = 0, samples_seen = 0;
    for (auto& b : batches.epoch(0)) {
      CHECK(b.size() == 5);
      ++count;
      samples_seen += b.size();
    }
    CHECK(count == 4);
    CHECK(samples_seen == 20);
  }
  plait::loader exact(data, {.batch_size = 23, .drop_last = true});
  CHECK(exact.batches_per_epoch() == 1);
  plait::loader whole(data, {.batch_size = 1000});
  CHECK(whole.batches_per_epoch() == 1);
  for (auto& b : whole.epoch(0)) CHECK(b.size() == 23);
}

TEST_CASE("regression targets are gathered with their samples") {
  const regression_set data({0, 1, 2, 3, 4, 5}, {10, 11, 12, 13, 14, 15});
  plait::loader batches(data, {.batch_size = 2, .seed = 3});
  for (auto& b : batches.epoch(0)) {
    const samples<shape<2>> y = b.y;
    for (std::size_t j = 0; j < b.size(); ++j) CHECK(y.sample(j)[0] == b.x.sample(j)[0] + 10.0f);
  }
}

TEST_CASE("misuse is a plait::error at construction") {
  const label_set data = make_labels(8);
  using L = plait::loader<label_set>;
  CHECK_THROWS_WITH_AS(L(data, {.batch_size = 0}), doctest::Contains("plait: loader batch_size is 0"), plait::error);
  CHECK_THROWS_WITH_AS(L(data, {.batch_size = 9, .drop_last = true}),
                       doctest::Contains("plait: loader batch_size 9 is larger than the dataset (8 samples)"),
                       plait::error);
  const label_set empty;
  CHECK_THROWS_WITH_AS(L(empty, {.batch_size = 1}), doctest::Contains("plait: loader over an empty dataset"),
                       plait::error);
  L unstarted(data, {.batch_size = 2});
  CHECK_THROWS_WITH_AS(unstarted.next(), doctest::Contains("plait: loader::next() called before an epoch began"),
                       plait::error);
}

TEST_CASE("destroying the loader mid-epoch or before any epoch does not hang") {
  const label_set data = make_labels(1000);
  for (int round = 0; round < 20; ++round) {
    plait::loader batches(data, {.batch_size = 3, .seed = static_cast<std::uint64_t>(round)});
    auto range = batches.epoch(0);
    auto it = range.begin();
    for (int k = 0; k < round % 4; ++k) ++it;
  }  // the worker is gathering, waiting on a slot, or idle; the destructor must stop it in each case
  { plait::loader idle(data, {.batch_size = 3}); }
}

TEST_CASE("an epoch may be abandoned for the next one") {
  const label_set data = make_labels(40);
  plait::loader batches(data, {.batch_size = 4, .seed = 2});
  for (int round = 0; round < 10; ++round) {
    auto first = batches.epoch(0).begin();
    CHECK(first->size() == 4);
  }
  std::vector<std::size_t> order;
  for (auto& b : batches.epoch(1))
    for (std::size_t j = 0; j < b.size(); ++j) order.push_back(static_cast<std::size_t>(b.y.data[j]));
  CHECK(order == plait::permutation(40, 2, 1));
}

TEST_CASE("the worker gathers at most one batch ahead") {
  const counting_set data;
  plait::loader batches(data, {.batch_size = 10, .shuffle = false});
  auto range = batches.epoch(0);
  auto it = range.begin();  // batch 0 handed out; the worker may prepare batch 1 only
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (data.gathers.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // room for a wrongful third gather
  CHECK(data.gathers.load() == 2);
  ++it;
  CHECK(it->x.data[0] == 10.0f);
}

TEST_CASE("an exception on the worker is rethrown to the caller at its batch") {
  for (bool prefetch : {true, false}) {
    CAPTURE(prefetch);
    const failing_set data{.poisoned = 7};
    plait::loader batches(data, {.batch_size = 3, .shuffle = false, .prefetch = prefetch});
    batches.begin_epoch(0);
    CHECK(batches.next()->x.data[0] == 0.0f);                                              // samples 0-2
    CHECK(batches.next()->x.data[0] == 3.0f);                                              // samples 3-5
    CHECK_THROWS_WITH_AS(batches.next(), "gather failed on purpose", std::runtime_error);  // 6-8
    CHECK_THROWS_AS(batches.next(), std::runtime_error);                                   // the epoch stays failed
    batches.begin_epoch(1);                                                                // a new epoch starts clean
    CHECK(batches.next()->x.data[0] == 0.0f);
  }
}

TEST_CASE("next returns nullptr after the last batch, and keeps doing so") {
  const label_set data = make_labels(4);
  plait::loader batches(data, {.batch_size = 2});
  batches.begin_epoch(0);
  CHECK(batches.next() != nullptr);
  CHECK(batches.next() != nullptr);
  CHECK(batches.next() == nullptr);
  CHECK(batches.next() == nullptr);
}

// ---- over a sharded_sampler ----------------------------------------------------------------------

using index_vector = std::vector<std::size_t>;
// plait::last_batch spelled out, as users write it.
using plait::sharded_sampler;

namespace {

// Every batch of an epoch as the dataset indices its labels name (sample i has label i), checking on
// the way that batch.indices and batch.number agree with what was gathered.
std::vector<index_vector> gathered_epoch(plait::loader<label_set>& l, std::uint64_t epoch) {
  std::vector<index_vector> out;
  for (auto& b : l.epoch(epoch)) {
    CHECK(b.number == out.size());
    index_vector labels;
    for (std::size_t j = 0; j < b.size(); ++j) labels.push_back(static_cast<std::size_t>(b.y.data[j]));
    CHECK(labels == index_vector(b.indices.begin(), b.indices.end()));
    out.push_back(labels);
  }
  return out;
}

index_vector replicas_part(const sharded_sampler& s, std::size_t batch, std::size_t first, std::size_t last) {
  index_vector all;
  for (std::size_t r = first; r < last; ++r) {
    const auto part = s.indices(batch, r);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

}  // namespace

TEST_CASE("over a sampler, batch b is exactly global_indices(b), for every epoch") {
  const label_set data = make_labels(103);
  for (std::size_t replicas : {1u, 3u, 4u})
    for (plait::last_batch last : {plait::last_batch::drop, plait::last_batch::pad})
      for (bool prefetch : {true, false}) {
        CAPTURE(replicas);
        CAPTURE(prefetch);
        const sharded_sampler s(data.size(), replicas, {.global_batch = 10, .seed = 4, .last = last});
        sharded_sampler expected = s;
        plait::loader batches(data, s, {.prefetch = prefetch});
        CHECK(batches.batches_per_epoch() == s.batches_per_epoch());
        CHECK(batches.options().batch_size == 10);
        for (std::uint64_t epoch : {0u, 2u, 1u}) {
          expected.set_epoch(epoch);
          const auto got = gathered_epoch(batches, epoch);
          REQUIRE(got.size() == expected.batches_per_epoch());
          for (std::size_t b = 0; b < got.size(); ++b) {
            const auto g = expected.global_indices(b);
            CHECK(got[b] == index_vector(g.begin(), g.end()));
          }
          CHECK(batches.sampler().epoch() == epoch);
        }
        CHECK(s.epoch() == 0);  // the loader set the epoch of its own copy only
      }
}

TEST_CASE("with a replica range, a batch is the concatenation of those replicas' indices") {
  const label_set data = make_labels(61);
  const std::size_t n_replicas = 4;
  const sharded_sampler s(data.size(), n_replicas, {.global_batch = 14, .seed = 8, .last = plait::last_batch::pad});
  sharded_sampler expected = s;
  for (std::size_t first = 0; first < n_replicas; ++first)
    for (std::size_t last = first + 1; last <= n_replicas; ++last) {
      CAPTURE(first);
      CAPTURE(last);
      plait::loader mine(data, s, {.replicas = {first, last}});
      plait::loader inline_(data, s, {.prefetch = false, .replicas = {first, last}});
      for (std::uint64_t epoch : {0u, 5u}) {
        expected.set_epoch(epoch);
        const auto got = gathered_epoch(mine, epoch);
        CHECK(got == gathered_epoch(inline_, epoch));  // prefetching changes nothing
        REQUIRE(got.size() == expected.batches_per_epoch());
        for (std::size_t b = 0; b < got.size(); ++b)
          CHECK(got[b] == replicas_part(expected, b, first, last));  // 14 over 4 is 4, 4, 3, 3
      }
      CHECK(mine.options().batch_size == replicas_part(expected, 0, first, last).size());
    }
  plait::loader tail(data, s, {.replicas = {2}});  // last left out: through the last replica
  CHECK(tail.options().replicas.last == n_replicas);
  CHECK(tail.options().batch_size == 6);
}

TEST_CASE("the rows that shard_of gives replica r of a batch are exactly sampler.indices(b, r)") {
  // The runtime scatters a batch of B rows by shard_of(B, N, r): this is the property it relies on,
  // checked on the gathered rows (their labels), not only on batch.indices.
  const label_set data = make_labels(97);
  for (std::size_t n_replicas : {1u, 2u, 3u, 5u}) {
    CAPTURE(n_replicas);
    const sharded_sampler s(data.size(), n_replicas, {.global_batch = 13, .seed = 6, .last = plait::last_batch::pad});
    plait::loader batches(data, s);
    for (auto& b : batches.epoch(3))
      for (std::size_t r = 0; r < n_replicas; ++r) {
        const plait::shard rows = plait::shard_of(b.size(), n_replicas, r);  // [B/N] @ replica r
        const auto want = batches.sampler().indices(b.number, r);
        REQUIRE(rows.size() == want.size());
        for (std::size_t j = 0; j < rows.size(); ++j)
          CHECK(static_cast<std::size_t>(b.y.data[rows.begin + j]) == want[j]);
      }
    // A process hosting replicas [first, last) scatters its batch over its own last - first devices
    // by the same rule, and still hands replica r exactly indices(b, r).
    for (std::size_t first = 0; first < n_replicas; ++first)
      for (std::size_t last = first + 1; last <= n_replicas; ++last) {
        plait::loader mine(data, s, {.prefetch = false, .replicas = {first, last}});
        for (auto& b : mine.epoch(1))
          for (std::size_t r = first; r < last; ++r) {
            const plait::shard rows = plait::shard_of(b.size(), last - first, r - first);
            const auto want = mine.sampler().indices(b.number, r);
            CHECK(index_vector(b.indices.begin() + static_cast<std::ptrdiff_t>(rows.begin),
                               b.indices.begin() + static_cast<std::ptrdiff_t>(rows.end)) ==
                  index_vector(want.begin(), want.end()));
          }
      }
  }
}

TEST_CASE("over a sampler, the remainder is the sampler's: pad fills the last batch, drop_last drops it") {
  const label_set data = make_labels(23);
  SUBCASE("pad") {
    const sharded_sampler s(data.size(), 3, {.global_batch = 10, .shuffle = false, .last = plait::last_batch::pad});
    plait::loader batches(data, s);
    const auto got = gathered_epoch(batches, 0);
    REQUIRE(got.size() == 3);
    CHECK(got[2] == index_vector{20, 21, 22, 0, 1, 2, 3, 4, 5, 6});  // full, wrapped to the epoch's start
    CHECK(batches.options().drop_last == false);
  }
  SUBCASE("drop_last") {
    const sharded_sampler s(data.size(), 3, {.global_batch = 10, .seed = 1, .last = plait::last_batch::drop});
    plait::loader batches(data, s, {.drop_last = true});  // repeating the sampler's choice is fine
    const auto got = gathered_epoch(batches, 2);
    REQUIRE(got.size() == 2);
    const index_vector order = plait::permutation(23, 1, 2);
    CHECK(got[0] == index_vector(order.begin(), order.begin() + 10));
    CHECK(got[1] == index_vector(order.begin() + 10, order.begin() + 20));
  }
}

TEST_CASE("options that contradict the sampler are plait errors") {
  const label_set data = make_labels(40);
  using L = plait::loader<label_set>;
  const sharded_sampler s(data.size(), 4, {.global_batch = 8, .seed = 3});
  CHECK_THROWS_WITH_AS(L(data, s, {.batch_size = 16}),
                       doctest::Contains("plait: loader batch_size 16 differs from the sampler's batch of 8 samples"),
                       plait::error);
  CHECK_THROWS_WITH_AS(L(data, s, {.batch_size = 8, .replicas = {0, 2}}),
                       doctest::Contains("batch of 4 samples over replicas [0, 2)"), plait::error);
  CHECK_THROWS_WITH_AS(L(data, s, {.shuffle = false}), doctest::Contains("plait: loader shuffle = false"),
                       plait::error);
  CHECK_THROWS_WITH_AS(L(data, s, {.seed = 4}), doctest::Contains("plait: loader seed 4 differs"), plait::error);
  const sharded_sampler padded(data.size(), 4, {.global_batch = 12, .last = plait::last_batch::pad});
  CHECK_THROWS_WITH_AS(L(data, padded, {.drop_last = true}),
                       doctest::Contains("plait: loader drop_last with a sampler that pads"), plait::error);
  for (plait::replica_range bad :
       {plait::replica_range{2, 2}, plait::replica_range{3, 1}, plait::replica_range{0, 5}, plait::replica_range{4}}) {
    CAPTURE(bad.first);
    CHECK_THROWS_WITH_AS(L(data, s, {.replicas = bad}), doctest::Contains("is not a range of the 4 replicas"),
                         plait::error);
  }
  const sharded_sampler other(41, 4, {.global_batch = 8});
  CHECK_THROWS_WITH_AS(L(data, other), doctest::Contains("sampler covers 41 samples but the dataset holds 40"),
                       plait::error);
  CHECK_THROWS_WITH_AS(L(data, {.batch_size = 4, .replicas = {0, 1}}),
                       doctest::Contains("plait: loader replicas set without a sampler"), plait::error);
  CHECK_THROWS_WITH_AS(L(data, s, {.batch_size = 16}), doctest::Contains(". Fix: "), plait::error);
  // Values that agree with the sampler are accepted.
  CHECK_NOTHROW(L(data, s, {.batch_size = 8, .seed = 3, .prefetch = false}));
  CHECK_NOTHROW(L(data, s, {.batch_size = 2, .prefetch = false, .replicas = {3, 4}}));
}

TEST_CASE("an epoch started at batch k gives the epoch's batches from k on, and batches_taken counts them") {
  const label_set data = make_labels(50);
  for (const bool prefetch : {true, false}) {
    plait::loader<label_set> l(data, {.batch_size = 8, .seed = 5, .prefetch = prefetch});
    const auto whole = record_epoch(l, 3);
    CHECK(l.batches_taken() == whole.size());
    std::vector<seen_batch> tail;
    for (auto& b : l.epoch(3, 4)) {
      const auto xs = b.x.values();
      tail.push_back({{xs.begin(), xs.end()}, {b.y.data, b.y.data + b.y.count}});
      CHECK(b.number == 4 + tail.size() - 1);
    }
    CHECK(tail == std::vector<seen_batch>(whole.begin() + 4, whole.end()));
    CHECK(l.batches_taken() == whole.size());
    CHECK(l.epoch(3, 99).begin() == std::default_sentinel);  // past the end: an empty epoch
  }
}

TEST_CASE("a batch says its place in the epoch and the size of the global batch it is a part of") {
  const label_set data = make_labels(61);
  const sharded_sampler s(data.size(), 4, {.global_batch = 14, .seed = 8, .last = plait::last_batch::pad});
  plait::loader mine(data, s, {.replicas = {1, 3}});  // replicas 1 and 2: 4 + 3 rows of each global batch
  std::size_t seen = 0;
  for (auto& b : mine.epoch(0)) {
    CHECK(b.number == seen++);
    CHECK(b.batches == 5);  // 61 samples padded to 5 global batches of 14
    CHECK(b.global == 14);
    CHECK(b.size() == 7);
  }
  CHECK(seen == 5);
  plait::loader plain(data, {.batch_size = 14, .seed = 8});  // without a sampler: each batch is a whole batch
  std::vector<std::size_t> globals;
  for (auto& b : plain.epoch(0)) {
    CHECK(b.global == b.size());
    CHECK(b.batches == 5);
    globals.push_back(b.global);
  }
  CHECK(globals == std::vector<std::size_t>{14, 14, 14, 14, 5});  // the partial last batch is its own global batch
}
