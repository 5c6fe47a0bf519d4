#pragma once
// linear<Out>: y = act(x W^T + b), W [Out, In] (PyTorch's layout), b [Out], on the last dimension:
//   a vector    x [B, In]    -> y [B, Out]
//   a sequence  x [B, T, In] -> y [B, T, Out], the same W and b at every step (nn.Linear on [B, T, In]).
// Both are one GEMM over rows = B (vector) or B*T (sequence) rows of In features.
// `linear<Out> >> relu` becomes one layer, linear_t<Out, relu_fn>: the bias and the activation
// are applied in a single pass over the GEMM's output, and backward folds the activation's
// derivative into the bias-gradient pass.

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../graph/fusion.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/reduce.hpp"
#include "activation.hpp"

namespace plait {

template <std::size_t Out, class Act = identity_fn>
struct linear_t {
  static_assert(
      Out > 0,
      "plait: linear<0> has no outputs. A linear layer maps to at least one feature. Fix: give linear<N> an N >= 1.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t out_features = Out;
  using activation = Act;

  template <Shape In>
  struct bound {
    static_assert(In::rank == 1 || In::rank == 2,
                  "plait: linear<N> is given an input of rank 3 or more. A linear layer maps a vector of "
                  "features, shape<F>, or every step of a sequence, shape<T, F>; its input here is an image. "
                  "Fix: put `>> flatten` before it.");
    static constexpr std::size_t steps = In::rank == 2 ? In::dims[0] : 1;  // T; 1 for a vector
    static constexpr std::size_t in_features = In::size / steps;           // F, the last dimension
    using in_shape = In;
    using out_shape = std::conditional_t<In::rank == 2, shape<steps, Out>, shape<Out>>;
    static constexpr std::size_t weight_count = Out * in_features;
    static constexpr std::size_t param_count = weight_count + Out;
    static constexpr std::size_t saved_count = Act::grad_from_output ? 0 : steps * Out;  // z, for act'(z)
    static constexpr std::size_t flops = steps * (2 * in_features * Out + Out * (1 + Act::flops));
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    static constexpr bool splits_backward = true;  // dparams or dx may be null: either part alone

    /// PyTorch's default: W and b uniform in +-1/sqrt(In).
    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(in_features));
      for (std::size_t i = 0; i < param_count; ++i) params[i] = static_cast<T>(rng.uniform(-bound, bound));
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      constexpr std::size_t F = in_features;
      const std::size_t rows = a.batch * steps;  // every step of every sample is one row
      const T* w = a.params;                     // [Out, F]
      const T* bias = a.params + weight_count;   // [Out]
      T* y = a.y;                                // [B*T, Out]
      T* z = a.saved;                            // [B*T, Out] when act' needs z
      gemm(ctx, transpose::no, transpose::yes, rows, Out, F, T{1}, a.x, F, w, F, T{0}, y, Out);
      for_rows(ctx, rows, [=] PLAIT_HD(std::size_t r) {
        T* PLAIT_RESTRICT row = y + r * Out;
        const T* b = bias;  // named before the if constexpr (nvcc: no first capture inside one)
        T* zs = z;
        if constexpr (Act::grad_from_output) {
          for (std::size_t o = 0; o < Out; ++o) row[o] = Act::apply(row[o] + b[o]);
        } else {
          T* PLAIT_RESTRICT zrow = zs + r * Out;
          for (std::size_t o = 0; o < Out; ++o) {
            zrow[o] = row[o] + b[o];
            row[o] = Act::apply(zrow[o]);
          }
        }
      });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      constexpr std::size_t F = in_features;
      const std::size_t rows = a.batch * steps;
      const T* w = a.params;             // [Out, F]
      T* dw = a.dparams;                 // [Out, F]
      T* db = a.dparams + weight_count;  // [Out]
      T* dz = a.dy;                      // [B*T, Out]: dy, turned into dz in place
      const T* from = Act::grad_from_output ? a.y : a.saved;
      const bool acc = a.accumulate;
      if (a.dparams) {
        // One pass over dy: dz = dy * act'(.), and db = sum over all rows of dz.
        column_sums<Out, !std::is_same_v<Act, identity_fn>>(ctx, dz, from, rows, db, acc, chain_rule<Act>{});
        // dW [Out, F] (+)= dz^T [Out, B*T] x x [B*T, F]
        gemm(ctx, transpose::yes, transpose::no, Out, F, rows, T{1}, dz, Out, a.x, F, acc ? T{1} : T{0}, dw, F);
      } else if constexpr (!std::is_same_v<Act, identity_fn>) {  // the input part alone: dz = dy * act'(.)
        for_rows(ctx, rows, [=] PLAIT_HD(std::size_t r) {
          T* PLAIT_RESTRICT d = dz + r * Out;
          const T* PLAIT_RESTRICT f = from + r * Out;
          for (std::size_t o = 0; o < Out; ++o) d[o] = chain_grad<Act>(d[o], f[o]);
        });
      }
      // dx [B*T, F] = dz [B*T, Out] x W [Out, F].
      if (a.dx) gemm(ctx, transpose::no, transpose::no, rows, F, Out, T{1}, dz, Out, w, F, T{0}, a.dx, F);
    }
  };
};

/// `linear<N>`: shape<F> -> shape<N>, or shape<T, F> -> shape<T, N> step by step.
template <std::size_t Out>
inline constexpr linear_t<Out> linear{};

template <std::size_t Out, class F>
struct fusion<linear_t<Out, identity_fn>, activation_t<F>> {
  using type = linear_t<Out, F>;
};

}  // namespace plait

#include "linear_shards.hpp"  // how linear splits under partition<N>
