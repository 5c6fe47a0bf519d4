// core/shard.hpp: shard_of splits [0, n) into `parts` contiguous parts, in order, without gaps or
// overlaps, sizes differing by at most one (the larger first). Compiling is the test.
#include <plait/core/shard.hpp>

namespace {
using namespace plait;

// The example of the header.
static_assert(shard_of(10, 3, 0) == shard{0, 4} && shard_of(10, 3, 1) == shard{4, 7} &&
              shard_of(10, 3, 2) == shard{7, 10});

// For every n = 0..96 and parts = 1..17: the parts tile [0, n), their sizes are n / parts or one
// more, the larger ones first, and none is empty while n >= parts.
constexpr bool tiles(std::size_t n, std::size_t parts) {
  std::size_t at = 0, extra = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    const shard s = shard_of(n, parts, i);
    if (s.begin != at || s.end < s.begin) return false;
    if (s.size() != n / parts && s.size() != n / parts + 1) return false;
    if (s.size() == n / parts + 1) {
      if (extra != i) return false;  // the larger parts come first
      ++extra;
    }
    if (n >= parts && s.empty()) return false;
    at = s.end;
  }
  return at == n && extra == n % parts;
}
static_assert([] {
  for (std::size_t n = 0; n <= 96; ++n)
    for (std::size_t parts = 1; parts <= 17; ++parts)
      if (!tiles(n, parts)) return false;
  return true;
}());
static_assert(tiles(1'000'003, 64) && tiles(7, 1000));

// Fewer items than parts: the last parts are empty, at n.
static_assert(shard_of(2, 4, 1) == shard{1, 2} && shard_of(2, 4, 3) == shard{2, 2} && shard_of(2, 4, 3).empty());
// One part holds everything.
static_assert(shard_of(5, 1, 0) == shard{0, 5} && shard_of(5, 1, 0).size() == 5);
// Out of contract: the empty shard at n.
static_assert(shard_of(10, 0, 0) == shard{10, 10} && shard_of(10, 3, 3) == shard{10, 10} && shard_of(10, 3, 3).empty());
}  // namespace
