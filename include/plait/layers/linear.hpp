#pragma once
// linear<Out>: y = act(x W^T + b), x [B, In], W [Out, In] (PyTorch's layout), b [Out].
// `linear<Out> >> relu` becomes one layer, linear_t<Out, relu_fn>: the bias and the activation
// are applied in a single pass over the GEMM's output, and backward folds the activation's
// derivative into the bias-gradient pass.

#include <cmath>

#include "../core/concepts.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../graph/fusion.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "activation.hpp"

namespace plait {

template <std::size_t Out, class Act = identity_fn>
struct linear_t {
  static_assert(Out > 0, "plait: linear<0> has no outputs. A linear layer maps to at least one feature. Fix: give linear<N> an N >= 1.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t out_features = Out;
  using activation = Act;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 1>::value,
                  "plait: linear<N> is given an input of rank other than 1. A linear layer maps a vector "
                  "of features; its input here is an image or a sequence. Fix: put `>> flatten` before it.");
    static constexpr std::size_t in_features = In::size;
    using in_shape = In;
    using out_shape = shape<Out>;
    static constexpr std::size_t weight_count = Out * In::size;
    static constexpr std::size_t param_count = weight_count + Out;
    static constexpr std::size_t saved_count = Act::grad_from_output ? 0 : Out;  // z, for act'(z)
    static constexpr std::size_t flops = 2 * In::size * Out + Out * (1 + Act::flops);
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;

    /// PyTorch's default: W and b uniform in +-1/sqrt(In).
    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(In::size));
      for (std::size_t i = 0; i < param_count; ++i) params[i] = static_cast<T>(rng.uniform(-bound, bound));
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* w = a.params;                // [Out, In]
      const T* bias = a.params + weight_count;  // [Out]
      T* y = a.y;                           // [B, Out]
      T* z = a.saved;                       // [B, Out] when act' needs z
      gemm(ctx, transpose::no, transpose::yes, a.batch, Out, In::size, T{1}, a.x, In::size, w, In::size, T{0}, y, Out);
      for_rows(ctx, a.batch, [=](std::size_t r) {
        T* PLAIT_RESTRICT row = y + r * Out;
        if constexpr (Act::grad_from_output) {
          for (std::size_t o = 0; o < Out; ++o) row[o] = Act::apply(row[o] + bias[o]);
        } else {
          T* PLAIT_RESTRICT zrow = z + r * Out;
          for (std::size_t o = 0; o < Out; ++o) {
            zrow[o] = row[o] + bias[o];
            row[o] = Act::apply(zrow[o]);
          }
        }
      });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      const std::size_t batch = a.batch;
      const T* w = a.params;                  // [Out, In]
      T* dw = a.dparams;                      // [Out, In]
      T* db = a.dparams + weight_count;       // [Out]
      T* dz = a.dy;                           // [B, Out]: dy, turned into dz in place
      const T* from = Act::grad_from_output ? a.y : a.saved;
      const bool acc = a.accumulate;
      // One pass over dy per column block: dz = dy * act'(.), and db = sum over the batch of dz.
      for_blocks(ctx, Out, 256, [=](std::size_t c0, std::size_t c1) {
        T* PLAIT_RESTRICT sums = db;
        if (!acc)
          for (std::size_t o = c0; o < c1; ++o) sums[o] = T{0};
        for (std::size_t r = 0; r < batch; ++r) {
          T* PLAIT_RESTRICT d = dz + r * Out;
          if constexpr (!std::is_same_v<Act, identity_fn>) {
            const T* PLAIT_RESTRICT f = from + r * Out;
            for (std::size_t o = c0; o < c1; ++o) d[o] *= Act::grad(f[o]);
          }
          for (std::size_t o = c0; o < c1; ++o) sums[o] += d[o];
        }
      });
      gemm(ctx, transpose::yes, transpose::no, Out, In::size, batch, T{1}, dz, Out, a.x, In::size, acc ? T{1} : T{0}, dw,
           In::size);
      if (a.dx) gemm(ctx, transpose::no, transpose::no, batch, In::size, Out, T{1}, dz, Out, w, In::size, T{0}, a.dx, In::size);
    }
  };
};

template <std::size_t Out>
inline constexpr linear_t<Out> linear{};

template <std::size_t Out, class F>
struct fusion<linear_t<Out, identity_fn>, activation_t<F>> {
  using type = linear_t<Out, F>;
};

}  // namespace plait
