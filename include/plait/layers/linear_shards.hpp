#pragma once
// How linear<Out> splits over a tensor-parallel group of N devices (partition<N>, as Megatron-LM),
// and the layers a device runs for its part:
//
//   column<N>:   linear_t<Out/N, Act>          W rows [r*Out/N, (r+1)*Out/N), their biases; input whole
//   row<N>:      row_shard_t<Out>              W columns [r*In/N, (r+1)*In/N): a partial [Out]
//                -- all-reduce over the group --
//                bias_act_t<Act>               the whole bias and the activation, after the sum
//   gathered<N>: linear_t<Out/N, Act>, then    (a linear without a row partner)
//                -- all-gather over the group --
//                column_gather_t<Out, N>       the gathered slices [N, B, Out/N] put in order: [B, Out]
//
// A column-then-row pair thus needs one all-reduce forward (the row's partial sums) and one backward
// (the column's input gradient, a partial sum of [In] on each device).

#include <array>
#include <cstring>

#include "../core/concepts.hpp"
#include "../core/meta.hpp"
#include "../core/shape.hpp"
#include "../graph/tensor_split.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/reduce.hpp"
#include "activation.hpp"
#include "linear.hpp"

namespace plait {

/// x [B, In/N] @ device r -> x W_r^T, a partial [B, Out] (no bias: it is added once, after the sum).
template <std::size_t Out>
struct row_shard_t {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    static_assert(
        In::rank == 1,
        "plait: row_shard_t takes vectors. It is the inner part of a partitioned linear. Fix: report this as a plait bug.");
    static constexpr std::size_t in_features = In::size;
    using in_shape = In;
    using out_shape = shape<Out>;
    static constexpr std::size_t param_count = Out * In::size;  // W_r [Out, In/N]
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = 2 * In::size * Out;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;

    template <class T, class Rng>
    static void init(T* params, Rng&) {  // overwritten from the whole layer's initialisation
      for (std::size_t i = 0; i < param_count; ++i) params[i] = T{0};
    }
    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      constexpr std::size_t F = In::size;
      gemm(ctx, transpose::no, transpose::yes, a.batch, Out, F, T{1}, a.x, F, a.params, F, T{0}, a.y, Out);
    }
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      constexpr std::size_t F = In::size;
      // dW_r [Out, In/N] (+)= dy^T x; dx [B, In/N] = dy W_r: the slice of the input gradient, whole.
      gemm(ctx, transpose::yes, transpose::no, Out, F, a.batch, T{1}, a.dy, Out, a.x, F, a.accumulate ? T{1} : T{0},
           a.dparams, F);
      if (a.dx) gemm(ctx, transpose::no, transpose::no, a.batch, F, Out, T{1}, a.dy, Out, a.params, F, T{0}, a.dx, F);
    }
  };
};

/// y = act(x + b) over [B, Out]: the bias and activation of a row-split linear, after the all-reduce.
template <class Act>
struct bias_act_t {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    static constexpr std::size_t width = In::size;
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = width;                              // b [Out]
    static constexpr std::size_t saved_count = Act::grad_from_output ? 0 : width;  // z, for act'(z)
    static constexpr std::size_t flops = width * (1 + Act::flops);
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = true;

    template <class T, class Rng>
    static void init(T* params, Rng&) {
      for (std::size_t i = 0; i < param_count; ++i) params[i] = T{0};
    }
    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* bias = a.params;  // [Out]
      const T* x = a.x;          // [B, Out], the all-reduced sum
      T* y = a.y;                // [B, Out]
      T* z = a.saved;            // [B, Out] when act' needs z
      for_rows(ctx, a.batch, [=] PLAIT_HD(std::size_t r) {
        const T* PLAIT_RESTRICT in = x + r * width;
        T* PLAIT_RESTRICT out = y + r * width;
        const T* b = bias;  // named before the if constexpr (nvcc: no first capture inside one)
        T* zs = z;
        if constexpr (Act::grad_from_output) {
          for (std::size_t o = 0; o < width; ++o) out[o] = Act::apply(in[o] + b[o]);
        } else {
          T* PLAIT_RESTRICT zr = zs + r * width;
          for (std::size_t o = 0; o < width; ++o) {
            zr[o] = in[o] + b[o];
            out[o] = Act::apply(zr[o]);
          }
        }
      });
    }
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      const T* from = Act::grad_from_output ? a.y : a.saved;
      T* dz = a.dy;  // [B, Out]: dy, turned into dz in place
      T* db = a.dparams;
      const std::size_t rows = a.batch;
      column_sums<width, !std::is_same_v<Act, identity_fn>>(ctx, dz, from, rows, db, a.accumulate, chain_rule<Act>{});
      if (a.dx && a.dx != dz) copy(ctx, a.dx, static_cast<const T*>(dz), rows * width);
    }
  };
};

/// The all-gathered slices of a column-split linear, [N, B, Out/N] in the layer's saved buffer
/// (where the all-gather writes them), put in sample order: y [B, Out]. Backward hands each device
/// its own slice of dy; dy is the same on every device, so nothing is exchanged.
template <std::size_t Out, std::size_t N>
struct column_gather_t {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    static_assert(In::rank == 1 && In::size * N == Out,
                  "plait: column_gather_t is given a slice of the wrong width. It follows a column-split linear. "
                  "Fix: report this as a plait bug.");
    static constexpr std::size_t slice = In::size;
    using in_shape = In;
    using out_shape = shape<Out>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = Out;  // the gathered [N, B, Out/N]
    static constexpr std::size_t flops = 0;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;

    template <class T, class Rng>
    static void init(T*, Rng&) {}
    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const std::size_t batch = a.batch;
      const T* g = a.saved;  // [N, B, Out/N]
      T* y = a.y;            // [B, Out]
      for_rows(ctx, batch, [=] PLAIT_HD(std::size_t b) {
        for (std::size_t r = 0; r < N; ++r)
          std::memcpy(y + b * Out + r * slice, g + (r * batch + b) * slice, slice * sizeof(T));
      });
    }
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if (!a.dx) return;
      const std::size_t r = ctx.index % N;  // this device's rank in its group: the innermost policy varies fastest
      const T* dy = a.dy;                   // [B, Out]
      T* dx = a.dx;                         // [B, Out/N]
      for_rows(ctx, a.batch, [=] PLAIT_HD(std::size_t b) {
        std::memcpy(dx + b * slice, dy + b * Out + r * slice, slice * sizeof(T));
      });
    }
  };
};

template <std::size_t Out, class Act>
struct tensor_split<linear_t<Out, Act>> {
  static constexpr bool splittable = true;
  static constexpr std::size_t outputs = Out;

  /// Vectors only: a sequence's linear runs whole.
  template <Shape In, std::size_t N>
  static constexpr bool column_fits = In::rank == 1 && Out % N == 0;
  template <Shape In, std::size_t N>
  static constexpr bool row_fits = In::rank == 1 && In::size % N == 0;

  template <std::size_t N>
  using column = type_list<linear_t<Out / N, Act>>;
  template <std::size_t N>
  using row = type_list<row_shard_t<Out>, bias_act_t<Act>>;
  template <std::size_t N>
  using gathered = type_list<linear_t<Out / N, Act>, column_gather_t<Out, N>>;

  /// Device r's blocks of the whole layer's parameters (W [Out, In], then b [Out]).
  template <Shape In, std::size_t N>
  static constexpr std::array<split_block, 2> column_blocks(std::size_t r) {
    constexpr std::size_t F = In::size, S = Out / N;
    return {{{.offset = r * S * F, .stride = F, .rows = S, .cols = F, .local = 0, .part = 0},
             {.offset = Out * F + r * S, .stride = S, .rows = 1, .cols = S, .local = S * F, .part = 0}}};
  }
  template <Shape In, std::size_t N>
  static constexpr std::array<split_block, 2> row_blocks(std::size_t r) {
    constexpr std::size_t F = In::size, S = F / N;
    return {{{.offset = r * S, .stride = F, .rows = Out, .cols = S, .local = 0, .part = 0},
             {.offset = Out * F, .stride = Out, .rows = 1, .cols = Out, .local = 0, .part = 1}}};
  }
};

}  // namespace plait
