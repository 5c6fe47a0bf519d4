#pragma once
// How a buffer of n elements is split over the ranks of a group, and the kernel with which a rank
// reduces its own chunk over every rank's buffer (docs/design.md §8: each device reduces its chunk).

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../core/config.hpp"
#include "../core/shard.hpp"

namespace plait {

/// A rank's part of a split buffer: the library's one splitting rule (core/shard.hpp), so a
/// collective's chunks and a batch's shares are cut alike.
using chunk = shard;

constexpr chunk chunk_of(std::size_t n, std::size_t parts, std::size_t i) { return shard_of(n, parts, i); }

namespace detail {

// Floats per block of a chunk reduction: the partial sum (8 KiB) stays in L1 while every source
// streams through once. A compile-time trip count also lets g++ vectorise at -O2.
inline constexpr std::size_t reduce_block = 2048;

PLAIT_ALWAYS_INLINE void sum_first(float* PLAIT_RESTRICT acc, const float* PLAIT_RESTRICT a,
                                   const float* PLAIT_RESTRICT b, std::size_t m) {
  for (std::size_t i = 0; i < m; ++i) acc[i] = a[i] + b[i];
}

PLAIT_ALWAYS_INLINE void sum_next(float* PLAIT_RESTRICT acc, const float* PLAIT_RESTRICT a, std::size_t m) {
  for (std::size_t i = 0; i < m; ++i) acc[i] += a[i];
}

// One block of m floats: acc = ((src(0) + src(1)) + src(2)) + ..., then out = acc. `out` may be
// one of the sources: it is written only after every source of the block has been read.
template <class Source>
PLAIT_ALWAYS_INLINE void reduce_block_of(float* out, float* PLAIT_RESTRICT acc, std::size_t offset, std::size_t m,
                                         std::size_t k, const Source& src) {
  sum_first(acc, src(0) + offset, src(1) + offset, m);
  for (std::size_t q = 2; q < k; ++q) sum_next(acc, src(q) + offset, m);
  std::memcpy(out + offset, acc, m * sizeof(float));
}

}  // namespace detail

/// out[i] = src(0)[i] + src(1)[i] + ... + src(k-1)[i] for i < n, added in that order, so the bits
/// of the result depend only on the inputs (the same on every rank and in every run).
/// Requirements: k >= 1; src(q) returns a pointer to n readable floats; `out` holds n floats and is
/// either one of the sources or overlaps none of them. Allocates nothing.
template <class Source>
void reduce_chunk(float* out, std::size_t n, std::size_t k, const Source& src) {
  if (n == 0) return;
  if (k == 1) {
    if (out != src(0)) std::memmove(out, src(0), n * sizeof(float));
    return;
  }
  alignas(64) float acc[detail::reduce_block];  // [block] partial sums @ this rank's stack
  std::size_t b = 0;
  for (; b + detail::reduce_block <= n; b += detail::reduce_block)
    detail::reduce_block_of(out, acc, b, detail::reduce_block, k, src);
  if (b < n) detail::reduce_block_of(out, acc, b, n - b, k, src);
}

/// The same sums, written into every source: src(q)[i] = src(0)[i] + ... + src(k-1)[i] for every q
/// and i < n (all-reduce of one chunk over k buffers). Each block is read from all k sources before
/// it is written to any. Requirements: k >= 1; src(q) returns n floats, the k ranges disjoint.
template <class Source>
void reduce_chunk_to_all(std::size_t n, std::size_t k, const Source& src) {
  if (n == 0 || k == 1) return;
  alignas(64) float acc[detail::reduce_block];  // [block] sums @ this rank's stack
  for (std::size_t b = 0; b < n; b += detail::reduce_block) {
    const std::size_t m = std::min(detail::reduce_block, n - b);
    detail::sum_first(acc, src(0) + b, src(1) + b, m);
    for (std::size_t q = 2; q < k; ++q) detail::sum_next(acc, src(q) + b, m);
    for (std::size_t q = 0; q < k; ++q) std::memcpy(src(q) + b, acc, m * sizeof(float));
  }
}

}  // namespace plait
