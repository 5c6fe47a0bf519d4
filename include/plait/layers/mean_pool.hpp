#pragma once
// mean_pool: the mean over a sequence, x [B, T, D] -> y [B, D], y[d] = (1/T) sum_t x[t, d].
// It turns a sequence model's per-step output (lstm, embedding, linear on a sequence) into one vector per sample.
// Backward spreads the gradient evenly: dx[t] = dy / T for every step t.

#include <cstddef>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/shape.hpp"
#include "../kernels/elementwise.hpp"

namespace plait {

struct mean_pool_t {
  static constexpr bool is_layer = true;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 2>::value,
                  "plait: mean_pool is given an input of rank other than 2. mean_pool averages a sequence of T "
                  "steps of D features per sample, shape<T, D>. Fix: put it after a layer with sequence "
                  "output (lstm<H>, embedding<Vocab, Dim>, linear<N> on a sequence), or give it input<T, D>.");
    static constexpr std::size_t steps = In::dims[0];                // T
    static constexpr std::size_t features = In::dims[In::rank - 1];  // D
    using in_shape = In;
    using out_shape = shape<features>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = steps * features;  // T-1 adds and one scale per feature
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    static constexpr bool splits_backward = true;  // no parameters: the input part is the whole backward

    template <class T, class Rng>
    static void init(T*, Rng&) {}

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* x = a.x;  // [B, T, D]
      T* y = a.y;        // [B, D]
      const T scale = T{1} / static_cast<T>(steps);
      for_rows(ctx, a.batch, [=] PLAIT_HD(std::size_t b) {
        const T* PLAIT_RESTRICT xs = x + b * steps * features;
        T* PLAIT_RESTRICT ys = y + b * features;
        for (std::size_t d = 0; d < features; ++d) ys[d] = xs[d];
        for (std::size_t t = 1; t < steps; ++t)
          for (std::size_t d = 0; d < features; ++d) ys[d] += xs[t * features + d];
        for (std::size_t d = 0; d < features; ++d) ys[d] *= scale;
      });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if (!a.dx) return;
      const T* dy = a.dy;  // [B, D]
      T* dx = a.dx;        // [B, T, D]
      const T scale = T{1} / static_cast<T>(steps);
      for_rows(ctx, a.batch, [=] PLAIT_HD(std::size_t b) {
        const T* PLAIT_RESTRICT g = dy + b * features;
        T* PLAIT_RESTRICT dxs = dx + b * steps * features;
        for (std::size_t t = 0; t < steps; ++t)
          for (std::size_t d = 0; d < features; ++d) dxs[t * features + d] = g[d] * scale;
      });
    }
  };
};

/// `mean_pool`: shape<T, D> -> shape<D>.
inline constexpr mean_pool_t mean_pool{};

}  // namespace plait
