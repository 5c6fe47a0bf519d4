#pragma once
// A specified pseudo-random generator (splitmix64), so that initial parameters, shuffles and
// dropout masks are the same on every compiler, standard library and backend.

#include <cmath>
#include <cstdint>

namespace plait {

__extension__ using uint128_t = unsigned __int128;  // g++ and clang; __extension__ keeps -Wpedantic quiet

class splitmix64 {
 public:
  explicit constexpr splitmix64(std::uint64_t seed) : state_(seed) {}

  constexpr std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, 1) with 24 random bits: exactly representable as float.
  constexpr float uniform01() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }

  /// Uniform in [lo, hi).
  constexpr float uniform(float lo, float hi) { return lo + (hi - lo) * uniform01(); }

  /// Unbiased integer in [0, bound), bound > 0 (Lemire's method with rejection).
  constexpr std::uint64_t below(std::uint64_t bound) {
    for (;;) {
      const uint128_t m = static_cast<uint128_t>(next()) * bound;
      const auto low = static_cast<std::uint64_t>(m);
      if (low >= bound || low >= (0 - bound) % bound) return static_cast<std::uint64_t>(m >> 64);
    }
  }

 private:
  std::uint64_t state_;
};

/// Mixes a seed with further numbers (epoch, layer index...) into an independent stream seed.
constexpr std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  splitmix64 g(seed ^ (a * 0xd1b54a32d192ed03ull) ^ (b * 0xabc98388fb8fac03ull));
  return g.next();
}

}  // namespace plait
