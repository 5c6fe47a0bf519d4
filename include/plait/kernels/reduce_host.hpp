#pragma once
// Reductions on host devices: plain loops on the device's thread, and the column sums as one pass
// over each block of columns (one task per block).

#include <cstddef>

#include "../backend/host/backend.hpp"
#include "../core/config.hpp"
#include "elementwise.hpp"
#include "reduce.hpp"

namespace plait {

template <class System>
struct reduce_impl<host<System>> {
  template <class Ctx, class T>
  static T sum(const Ctx&, const T* x, std::size_t n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += double(x[i]);
    return T(s);
  }

  template <class Ctx, class T>
  static void sum_into(const Ctx& ctx, const T* x, std::size_t n, double* acc, bool add) {
    const double part = double(sum(ctx, x, n));
    *acc = add ? *acc + part : part;
  }

  template <class Ctx, class Pred>
  static std::size_t find_first(const Ctx&, std::size_t n, Pred pred) {
    for (std::size_t i = 0; i < n; ++i)
      if (pred(i)) [[unlikely]]
        return i;
    return n;
  }

  // One pass over d per column block: d = grad(d, from), and the sums over all rows. A layer at most
  // `register_columns` wide is one block whose sums stay in registers (bounds known when compiled);
  // each column adds its rows in the same order either way, so both paths give the same bits.
  static constexpr std::size_t register_columns = 128;

  template <std::size_t Cols, bool Scale, class Ctx, class T, class Grad>
  static void column_sums(const Ctx& ctx, T* d, const T* from, std::size_t rows, T* sums, bool accumulate, Grad grad) {
    if constexpr (Cols <= register_columns) {
      T acc[Cols];
      for (std::size_t o = 0; o < Cols; ++o) acc[o] = accumulate ? sums[o] : T{0};
      for (std::size_t r = 0; r < rows; ++r) {
        T* PLAIT_RESTRICT dr = d + r * Cols;
        if constexpr (Scale) {
          const T* PLAIT_RESTRICT f = from + r * Cols;
          for (std::size_t o = 0; o < Cols; ++o) {
            const T v = grad(dr[o], f[o]);
            dr[o] = v;
            acc[o] += v;
          }
        } else {
          for (std::size_t o = 0; o < Cols; ++o) acc[o] += dr[o];
        }
      }
      for (std::size_t o = 0; o < Cols; ++o) sums[o] = acc[o];
      return;
    }
    for_blocks(ctx, Cols, 256, [=] PLAIT_HD(std::size_t c0, std::size_t c1) {
      T* PLAIT_RESTRICT s = sums;
      const T* f0 = from;  // named before the if constexpr: nvcc's lambdas may not first capture inside one
      const Grad g = grad;
      if (!accumulate)
        for (std::size_t o = c0; o < c1; ++o) s[o] = T{0};
      for (std::size_t r = 0; r < rows; ++r) {
        T* PLAIT_RESTRICT dr = d + r * Cols;
        if constexpr (Scale) {  // one pass: scale the row and add it
          const T* PLAIT_RESTRICT f = f0 + r * Cols;
          for (std::size_t o = c0; o < c1; ++o) {
            const T v = g(dr[o], f[o]);
            dr[o] = v;
            s[o] += v;
          }
        } else {
          for (std::size_t o = c0; o < c1; ++o) s[o] += dr[o];
        }
      }
    });
  }
};

}  // namespace plait
