#pragma once
// Reductions whose result a layer, a loss or the runtime reads: dispatch by specialisation on the
// backend, each backend's body in reduce_<backend>.hpp (reduce_host.hpp, reduce_cuda.hpp).
//
//   sum(ctx, x, n)                      -> x[0] + ... + x[n-1], returned to the host
//   sum_into(ctx, x, n, acc, add)       -> *acc (+)= sum(ctx, x, n), in the device's memory
//   find_first(ctx, n, pred)            -> the first i in [0, n) with pred(i), or n, returned to the host
//   column_sums<Cols, Scale>(ctx, d, from, rows, sums, accumulate, grad)
//                                       -> d [rows, Cols] = grad(d, from) in place when Scale, then
//                                          sums [Cols] (+)= the column sums of d (a bias gradient)

#include <cstddef>

#include "../core/meta.hpp"

namespace plait {

template <class Backend>
struct reduce_impl {
  static_assert(dependent_false<Backend>,
                "plait: no reductions for this backend. Sums and searches are specialised per backend. Fix: "
                "include the backend's header (plait/plait.hpp for host, plait/cuda.hpp for CUDA).");
};

/// Sum of x[0..n) in index order, in double: the same bits on every backend and policy. Used for
/// short vectors (per-sample losses), where a parallel reduction would cost more than it saves.
template <class Ctx, class T>
T sum(const Ctx& ctx, const T* x, std::size_t n) {
  return reduce_impl<typename Ctx::backend>::sum(ctx, x, n);
}

/// *acc = (add ? *acc : 0) + double(sum(ctx, x, n)), with acc [1] in the device's memory: the same
/// bits as adding what sum returns on the host, but nothing waits for the device, so a step captured
/// in a CUDA graph may hold it.
template <class Ctx, class T>
void sum_into(const Ctx& ctx, const T* x, std::size_t n, double* acc, bool add) {
  reduce_impl<typename Ctx::backend>::sum_into(ctx, x, n, acc, add);
}

/// The smallest i in [0, n) for which pred(i) holds, or n when none does. pred is a kernel body
/// (PLAIT_HD, captures by value) reading the context's memory.
template <class Ctx, class Pred>
std::size_t find_first(const Ctx& ctx, std::size_t n, Pred pred) {
  return reduce_impl<typename Ctx::backend>::find_first(ctx, n, pred);
}

/// For d [rows, Cols] (row-major): when Scale, d[r][c] = grad(d[r][c], from[r][c]) first (from
/// [rows, Cols]; grad is dy times the activation's derivative, chain_rule<Act>);
/// then sums[c] = (accumulate ? sums[c] : 0) + d[0][c] + ... + d[rows-1][c], added in row order.
/// This is the bias gradient of linear and of a row-split linear's bias, fused with the
/// activation's derivative.
template <std::size_t Cols, bool Scale, class Ctx, class T, class Grad>
void column_sums(const Ctx& ctx, T* d, const T* from, std::size_t rows, T* sums, bool accumulate, Grad grad) {
  reduce_impl<typename Ctx::backend>::template column_sums<Cols, Scale>(ctx, d, from, rows, sums, accumulate, grad);
}

}  // namespace plait
