#pragma once
// on<D>(f): pins the layers of f (a layer or a sub-graph without an input) to logical device D.
//
//   constexpr auto net = input<64> >> on<1>(scale) >> on<0>(linear<256> >> relu >> linear<10>);
//
// Each layer of f becomes on_t<D, layer>: the same layer (shapes, parameters, forward, backward,
// fusion inside f already done), marked with its device. A layer without a mark belongs to the
// device of the layer before it (the first ones to the device of the first mark). The policy
// `placement` (policy/placement.hpp) turns the marks into stages, one per run of layers on one
// device, and generates the transfers between them.

#include <cstddef>
#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/shape.hpp"
#include "chain.hpp"

namespace plait {

template <std::size_t D, LayerSpec L>
struct on_t {
  static constexpr bool is_layer = true;
  static constexpr std::size_t device = D;
  using layer = L;
  template <Shape In>
  struct bound : L::template bound<In> {
    static constexpr std::size_t device = D;
  };
};

/// The device a bound layer is pinned to, or `unpinned`.
inline constexpr std::size_t unpinned = ~std::size_t{0};

/// on<cpu>(f): f's layers run on the host, in the input's path, before the batch reaches the devices:
/// the CPU preprocessing that feeds a model on GPUs (graph/host_stage_layers.hpp says what may be there).
/// On host devices they run on the device that holds the layers after them.
inline constexpr std::size_t cpu = unpinned - 1;
template <class B>
inline constexpr std::size_t pinned_device_of = [] {
  if constexpr (requires { B::device; }) return std::size_t{B::device};
  else return unpinned;
}();

namespace detail {
template <std::size_t D, class... L>
constexpr auto pin(chain<no_input, L...>) {
  return chain<no_input, on_t<D, L>...>{};
}
}  // namespace detail

template <std::size_t D>
struct on_device {
  /// on<D>(f): f's layers on device D.
  template <class F>
  constexpr auto operator()(F) const {
    if constexpr (LayerSpec<F>) {
      return chain<no_input, on_t<D, F>>{};
    } else {
      static_assert(
          Graph<F> && !F::has_input,
          "plait: on<D>(...) is given something that is not a layer or a sub-graph without an input. on<D> "
          "pins layers to a device; the graph's input<...> stays outside. Fix: write input<...> >> on<D>(layers).");
      return detail::pin<D>(F{});
    }
  }
};

template <std::size_t D>
inline constexpr on_device<D> on{};

}  // namespace plait
