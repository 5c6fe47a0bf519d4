#pragma once
// relu, gelu, tanh, sigmoid as layers of their own: y = f(x), any input shape. After a linear
// they are fused into it (see linear.hpp); standing alone they are one element-wise pass.

#include "../core/concepts.hpp"
#include "../core/shape.hpp"
#include "../graph/tensor_split.hpp"
#include "../kernels/elementwise.hpp"
#include "activation_fn.hpp"

namespace plait {

template <class F>
struct activation_t {
  static constexpr bool is_layer = true;
  using function = F;

  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = In::size * F::flops;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = true;
    static constexpr bool splits_backward = true;  // no parameters: the input part is the whole backward

    template <class T, class Rng>
    static void init(T*, Rng&) {}

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* x = a.x;
      T* y = a.y;
      for_blocks(ctx, a.batch * In::size, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) y[i] = F::apply(x[i]);
      });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if (!a.dx) return;
      const T* from = F::grad_from_output ? a.y : a.x;
      const T* dy = a.dy;
      T* dx = a.dx;
      for_blocks(ctx, a.batch * In::size, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) dx[i] = chain_grad<F>(dy[i], from[i]);
      });
    }
  };
};

using relu_t = activation_t<relu_fn>;
using gelu_t = activation_t<gelu_fn>;
using tanh_t = activation_t<tanh_fn>;
using sigmoid_t = activation_t<sigmoid_fn>;

inline constexpr relu_t relu{};
inline constexpr gelu_t gelu{};
inline constexpr tanh_t tanh{};
inline constexpr sigmoid_t sigmoid{};

/// Element-wise: under partition<N>, between a column-split linear and its row partner, it runs on
/// each device's slice of the activations.
template <class F>
struct tensor_split<activation_t<F>> {
  static constexpr bool splittable = false;
  static constexpr bool on_shards = true;
};

}  // namespace plait
