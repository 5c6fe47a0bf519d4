#pragma once
// flatten: [C, H, W] -> [C*H*W]. The output is the input reinterpreted: no memory, no work.

#include "../core/concepts.hpp"
#include "../core/shape.hpp"

namespace plait {

struct flatten_t {
  static constexpr bool is_layer = true;

  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = shape<In::size>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = 0;
    static constexpr bool is_view = true;
    static constexpr bool in_place_grad = true;

    template <class T, class Rng>
    static void init(T*, Rng&) {}
    template <class Ctx, class T>
    static void forward(const Ctx&, const forward_args<T>&) {}
    template <class Ctx, class T>
    static void backward(const Ctx&, const backward_args<T>&) {}
  };
};

inline constexpr flatten_t flatten{};

}  // namespace plait
