#pragma once
// frozen(f): the layers of f (a layer or a sub-graph without an input) keep their parameters.
//
//   constexpr auto net = input<784> >> frozen(linear<256> >> relu >> linear<128>) >> relu >> linear<10>;
//
// Each layer of f becomes frozen_t<layer>: the same layer (shapes, forward, backward; its gradient
// with respect to its input still flows to the layers before), marked frozen. What follows from
// the mark, at compile time: the gradient buckets of replicate<N> leave the frozen layers' gradients
// out (policy/buckets.hpp: fewer bytes communicated, the programs' buckets show it), the optimizer
// steps only the trainable runs of parameters and keeps state for them alone, and the gradient norm
// of step_guard counts only them.
//
// trainable_runs<Layout>(first, last): the runs of consecutive non-frozen layers of [first, last),
// as ranges of the layout's flat parameters, what the optimizer steps.

#include <array>
#include <cstddef>
#include <utility>

#include "../core/concepts.hpp"
#include "../core/shape.hpp"
#include "chain.hpp"

namespace plait {

template <LayerSpec L>
struct frozen_t {
  static constexpr bool is_layer = true;
  using layer = L;
  template <Shape In>
  struct bound : L::template bound<In> {
    static constexpr bool frozen = true;
  };
};

/// Whether a bound layer is frozen.
template <class B>
inline constexpr bool is_frozen = [] {
  if constexpr (requires { B::frozen; }) return bool{B::frozen};
  else return false;
}();

namespace detail {
template <class... L>
constexpr auto freeze(chain<no_input, L...>) {
  return chain<no_input, frozen_t<L>...>{};
}
}  // namespace detail

struct freeze_fn {
  template <class F>
  constexpr auto operator()(F) const {
    if constexpr (LayerSpec<F>) {
      return chain<no_input, frozen_t<F>>{};
    } else {
      static_assert(Graph<F> && !F::has_input,
                    "plait: frozen(...) is given something that is not a layer or a sub-graph without an input. "
                    "frozen marks layers whose parameters stay as they are; the graph's input<...> stays outside. "
                    "Fix: write input<...> >> frozen(layers).");
      return detail::freeze(F{});
    }
  }
};
/// frozen(f): f's layers are not trained.
inline constexpr freeze_fn frozen{};

namespace detail {
template <class Layout, std::size_t... I>
constexpr std::array<bool, sizeof...(I)> frozen_flags(std::index_sequence<I...>) {
  return {is_frozen<typename Layout::template layer<I>>...};
}
}  // namespace detail

/// Layout's frozen layers, per layer. (A pack expansion, not static_for with a templated lambda: nvcc 13's
/// front end fails on the latter here, inside a variable template's initializer.)
template <class Layout>
inline constexpr auto frozen_layers = detail::frozen_flags<Layout>(std::make_index_sequence<Layout::layer_count>{});
template <class Layout>
inline constexpr bool any_frozen = [] {
  for (bool f : frozen_layers<Layout>)
    if (f) return true;
  return false;
}();

/// Floats [offset, offset + size) of a layout's flat parameters.
struct param_run {
  std::size_t offset = 0, size = 0;
};
template <std::size_t N>
struct param_runs {
  std::array<param_run, N> r{};
  std::size_t count = 0;
  /// Floats in every run.
  constexpr std::size_t floats() const {
    std::size_t n = 0;
    for (std::size_t k = 0; k < count; ++k) n += r[k].size;
    return n;
  }
};

/// The runs of consecutive trainable layers with parameters among layers [first, last) of Layout.
template <class Layout>
constexpr param_runs<Layout::layer_count> trainable_runs(std::size_t first, std::size_t last) {
  param_runs<Layout::layer_count> out;
  bool open = false;
  for (std::size_t i = first; i < last; ++i) {
    if (frozen_layers<Layout>[i]) {
      open = false;
      continue;
    }
    if (Layout::param_sizes[i] == 0) continue;
    const std::size_t end = Layout::param_offsets[i] + Layout::param_sizes[i];
    if (open) {
      out.r[out.count - 1].size = end - out.r[out.count - 1].offset;
    } else {
      out.r[out.count++] = {Layout::param_offsets[i], Layout::param_sizes[i]};
      open = true;
    }
  }
  return out;
}

/// Floats of a device's parameters that train (its optimizer state's size per state slot): the
/// trainable runs of the layers it owns (Memory: device_memory's owned() and param_size()).
template <class Layout, class Memory>
std::size_t trainable_floats(const Memory& m) {
  if constexpr (any_frozen<Layout>) return trainable_runs<Layout>(m.owned().first, m.owned().last).floats();
  else return m.param_size();
}

}  // namespace plait
