#pragma once
// Deterministic shuffling: the same (seed, epoch) gives the same order on every compiler, standard
// library and platform, so a run can be reproduced, and replicas that shuffle alike agree.
// std::shuffle and std::uniform_int_distribution are not specified exactly enough for that, so the
// generator, the bounded draw and the shuffle are all written out:
//
//   splitmix64          Steele, Lea & Flood (2014), from core/random.hpp; expands a key into state
//   xoshiro256**        Blackman & Vigna (2018); the generator
//   below(bound)        unbiased draw in [0, bound) by rejection of the first 2^64 mod bound values
//   Fisher-Yates        from the last position down: swap a[i] with a[below(i + 1)]
//
// Changing any of these changes every shuffled order users have recorded: do not.

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "../core/random.hpp"

namespace plait {

class xoshiro256ss {
 public:
  /// State from four splitmix64 outputs, as the authors recommend; never all zero in practice.
  constexpr explicit xoshiro256ss(std::uint64_t key) {
    splitmix64 sm{key};
    for (auto& word : s_) word = sm.next();
  }

  /// The raw state, for checking against the reference implementation.
  constexpr xoshiro256ss(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2, std::uint64_t s3) : s_{s0, s1, s2, s3} {}

  constexpr std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, bound), bound > 0. Values below 2^64 mod bound are rejected so that every
  /// residue is drawn from the same number of raw values (no modulo bias).
  constexpr std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound
    for (;;) {
      const std::uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
};

/// The generator key of one epoch: the epoch is mixed through splitmix64 first so that nearby
/// (seed, epoch) pairs such as (0, 1) and (1, 0) give unrelated streams.
constexpr std::uint64_t shuffle_key(std::uint64_t seed, std::uint64_t epoch) {
  splitmix64 e{epoch};
  return seed ^ e.next();
}

/// Fills `indices` with 0 .. n-1 in the shuffled order of (seed, epoch). Does not allocate.
inline void shuffle_indices(std::span<std::size_t> indices, std::uint64_t seed, std::uint64_t epoch) {
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  xoshiro256ss rng(shuffle_key(seed, epoch));
  for (std::size_t i = indices.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.below(i));  // position in [0, i)
    std::swap(indices[i - 1], indices[j]);
  }
}

/// 0 .. n-1 in the shuffled order of (seed, epoch).
inline std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> order(n);
  shuffle_indices(order, seed, epoch);
  return order;
}

}  // namespace plait
