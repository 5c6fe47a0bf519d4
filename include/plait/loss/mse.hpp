#pragma once
// Mean squared error, averaged over every element as PyTorch's MSELoss: for outputs o and
// targets t of shape [B, F],  loss = (1/(N F)) sum (o - t)^2,  do = 2 (o - t) / (N F),
// with N the number of samples of the whole (global) batch.

#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "../kernels/elementwise.hpp"
#include "loss.hpp"

namespace plait {

struct mse_loss {
  static constexpr const char* name = "mse";

  template <Shape Out, class Y>
  static constexpr bool accepts = [] {
    if constexpr (Samples<Y>) return std::is_same_v<Out, typename Y::shape_type>;
    else return false;
  }();

  template <Shape Out, class Y>
  static constexpr void check() {
    static_assert(Samples<Y>,
                  "plait: mse is given targets that are not samples<shape<...>>. Mean squared error "
                  "compares the output with float targets of the same shape. Fix: pass samples<S> "
                  "targets, or use cross_entropy for class labels.");
    if constexpr (Samples<Y>) {
      static_assert(same_shape<Out, typename Y::shape_type>::value,
                    "plait: the loss target's shape does not match the model's output shape. mse compares "
                    "output and target element by element. Fix: make the last layer's output shape equal "
                    "the target shape (or change the target).");
    }
  }

  template <Shape Out, class Ctx, class T>
  static void rows(const Ctx& ctx, const T* o, samples<Out, T> t, T* d, T* row_loss, T norm) {
    constexpr std::size_t F = Out::size;
    const T* target = t.data;
    const T scale = T{2} / (norm * F);
    const T inv = T{1} / F;
    for_rows(ctx, t.count, [=] PLAIT_HD(std::size_t r) {
      const T* PLAIT_RESTRICT orow = o + r * F;
      const T* PLAIT_RESTRICT trow = target + r * F;
      T s = 0;
      for (std::size_t c = 0; c < F; ++c) {
        const T e = orow[c] - trow[c];
        s += e * e;
        if (d) d[r * F + c] = scale * e;
      }
      row_loss[r] = s * inv;
    });
  }
};

inline constexpr mse_loss mse{};

static_assert(Loss<mse_loss>);

}  // namespace plait
