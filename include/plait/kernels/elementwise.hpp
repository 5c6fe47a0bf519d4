#pragma once
// Element-wise and per-row loops, run by Thrust with the device's explicit execution policy.
// Row loops keep the inner loop over a row's contiguous elements, which the compiler vectorises.

#include <cstddef>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/reduce.h>

namespace plait {

/// f(r) for r in [0, rows).
template <class Ctx, class F>
void for_rows(const Ctx& ctx, std::size_t rows, F f) {
  thrust::for_each_n(ctx.policy(), thrust::counting_iterator<std::size_t>(0), rows, f);
}

/// f(begin, end) over `n` elements cut into blocks of `block`; blocks may run in parallel.
template <class Ctx, class F>
void for_blocks(const Ctx& ctx, std::size_t n, std::size_t block, F f) {
  const std::size_t blocks = (n + block - 1) / block;
  thrust::for_each_n(ctx.policy(), thrust::counting_iterator<std::size_t>(0), blocks, [=](std::size_t b) {
    const std::size_t begin = b * block;
    f(begin, begin + block < n ? begin + block : n);
  });
}

/// Sum of x[0..n) in a fixed order for a given policy.
template <class Ctx, class T>
T sum(const Ctx& ctx, const T* x, std::size_t n) {
  return thrust::reduce(ctx.policy(), x, x + n, T{0});
}

}  // namespace plait
