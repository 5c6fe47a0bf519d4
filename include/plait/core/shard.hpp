#pragma once
// shard_of: the one rule for splitting n items over `parts` consumers, used wherever the library
// cuts a batch (the sharded sampler, the runtime's scatter). Both must agree sample for sample, so
// the rule lives here, once.
//
//   n = 10, parts = 3   ->   [0, 4) [4, 7) [7, 10)
//
// Part i is contiguous; parts follow each other in order; the first n % parts parts hold one item
// more than the rest (numpy.array_split's rule), so sizes differ by at most one and no part is empty
// while n >= parts.

#include <cstddef>

namespace plait {

/// The half-open range [begin, end) of one part.
struct shard {
  std::size_t begin = 0;
  std::size_t end = 0;

  constexpr std::size_t size() const { return end - begin; }
  constexpr bool empty() const { return begin == end; }
  friend constexpr bool operator==(const shard&, const shard&) = default;
};

/// Part i of n items split over `parts`. Requires parts > 0 and i < parts; out of contract the
/// result is the empty shard at n, so a caller that checked nothing still indexes nothing out of range.
constexpr shard shard_of(std::size_t n, std::size_t parts, std::size_t i) {
  if (parts == 0 || i >= parts) return {n, n};
  const std::size_t base = n / parts;   // every part gets this many
  const std::size_t extra = n % parts;  // ... and the first `extra` parts one more
  const std::size_t begin = i * base + (i < extra ? i : extra);
  return {begin, begin + base + (i < extra ? 1 : 0)};
}

}  // namespace plait
