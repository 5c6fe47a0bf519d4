#pragma once
// view_layer<In, Out>: a bound layer whose output is its input reinterpreted (flatten, cut): no
// parameters, no memory, no work. The runtime aliases its output to its input and its input
// gradient to its output gradient.

#include "../core/concepts.hpp"
#include "../core/shape.hpp"

namespace plait {

template <Shape In, Shape Out>
struct view_layer {
  static_assert(
      In::size == Out::size,
      "plait: a view changes the number of elements. A view only reinterprets its input. Fix: keep the sample size.");
  using in_shape = In;
  using out_shape = Out;
  static constexpr std::size_t param_count = 0;
  static constexpr std::size_t saved_count = 0;
  static constexpr std::size_t flops = 0;
  static constexpr bool is_view = true;
  static constexpr bool in_place_grad = true;
  static constexpr bool splits_backward = true;

  template <class T, class Rng>
  static void init(T*, Rng&) {}
  template <class Ctx, class T>
  static void forward(const Ctx&, const forward_args<T>&) {}
  template <class Ctx, class T>
  static void backward(const Ctx&, const backward_args<T>&) {}
};

}  // namespace plait
