#pragma once
// Element-wise and per-row loops, run by Thrust with the device's explicit execution policy.
// Row loops keep the inner loop over a row's contiguous elements, which the compiler vectorises.

#include <cstddef>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

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

/// Sum of x[0..n) in index order, in double: the same bits on every backend and policy. Used for
/// short vectors (per-sample losses), where a parallel reduction would cost more than it saves.
template <class Ctx, class T>
T sum(const Ctx&, const T* x, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += double(x[i]);
  return T(s);
}

}  // namespace plait
